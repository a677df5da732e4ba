//! On-disk format (little endian), version 1:
//!
//! ```text
//! header (64 bytes)
//!   0  magic        b"KUZETANN"
//!   8  version      u32 = 1
//!  12  dim          u32
//!  16  m            u32
//!  20  ef_constr.   u32
//!  24  ef_search    u32
//!  28  rerank       u32
//!  32  slots        u64      nodes, live or tombstoned
//!  40  entry        u32      u32::MAX when empty
//!  44  max_level    u32
//!  48  seed         u64
//!  56  reserved     u64 = 0
//! ids      slots × u64
//! flags    slots × u8        bit 0: removed (tombstone)
//! levels   slots × u8
//! vectors  slots × dim × f32 (normalised)
//! layer0   slots × (2m + 1) × u32   [count, neighbours...]
//! upper    Σ levels[i] × (m + 1) × u32, node by node, level 1 first
//! crc32    u32 of everything above
//! ```
//!
//! int8 codes are recomputed on load (deterministic), so the file never
//! disagrees with the vectors it was derived from.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering as AO};

use crate::hnsw::{Graph, MAX_LEVEL, NONE};
use crate::kernels::{self, Kernels};
use crate::{check_params, Index, IndexError, IndexParams};

const MAGIC: &[u8; 8] = b"KUZETANN";
const VERSION: u32 = 1;
const HEADER: usize = 64;

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct CrcReader<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

pub(crate) fn save(ix: &Index, path: &Path) -> Result<(), IndexError> {
    let tmp = temp_path(path);
    let r = write_to(ix, &tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(io_err(path)));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return r;
    }
    // Make the rename itself durable; best effort (not all platforms allow
    // opening a directory).
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn write_to(ix: &Index, tmp: &Path) -> Result<(), IndexError> {
    let file = File::create(tmp).map_err(io_err(tmp))?;
    let w = write_stream(ix, BufWriter::with_capacity(1 << 20, file)).map_err(io_err(tmp))?;
    let file = w
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_err(tmp))?;
    file.sync_all().map_err(io_err(tmp))
}

/// The file format into memory (for callers that encrypt it before it
/// touches a disk).
pub(crate) fn to_bytes(ix: &Index) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + ix.slots() * (ix.dim * 4 + 16));
    write_stream(ix, &mut out).expect("writing to memory cannot fail");
    out
}

/// Reads what [`to_bytes`] produced; `label` names the source in errors.
pub(crate) fn from_bytes(bytes: &[u8], label: &Path) -> Result<Index, IndexError> {
    load_stream(bytes, bytes.len() as u64, label, None)
}

fn write_stream<W: Write>(ix: &Index, inner: W) -> std::io::Result<W> {
    let mut w = CrcWriter {
        inner,
        crc: crc32fast::Hasher::new(),
    };
    let g = &ix.graph;
    let p = &ix.params;
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    for x in [ix.dim, p.m, p.ef_construction, p.ef_search, p.rerank] {
        h.extend_from_slice(&(x as u32).to_le_bytes());
    }
    h.extend_from_slice(&(ix.slots() as u64).to_le_bytes());
    h.extend_from_slice(&g.entry.to_le_bytes());
    h.extend_from_slice(&(g.max_level as u32).to_le_bytes());
    h.extend_from_slice(&p.seed.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    debug_assert_eq!(h.len(), HEADER);
    {
        w.write_all(&h)?;
        let mut buf = Vec::with_capacity(1 << 16);
        let flush = |w: &mut CrcWriter<_>, buf: &mut Vec<u8>, force: bool| {
            if force || buf.len() >= 1 << 16 {
                w.write_all(buf)?;
                buf.clear();
            }
            Ok::<(), std::io::Error>(())
        };
        for id in &ix.ids {
            buf.extend_from_slice(&id.to_le_bytes());
            flush(&mut w, &mut buf, false)?;
        }
        buf.extend(ix.deleted.iter().map(|&d| d as u8));
        buf.extend_from_slice(&g.levels);
        flush(&mut w, &mut buf, false)?;
        for x in &ix.vectors {
            buf.extend_from_slice(&x.to_le_bytes());
            flush(&mut w, &mut buf, false)?;
        }
        let words = g.level0.iter().chain(g.upper.iter().flat_map(|u| u.iter()));
        for a in words {
            buf.extend_from_slice(&a.load(AO::Relaxed).to_le_bytes());
            flush(&mut w, &mut buf, false)?;
        }
        flush(&mut w, &mut buf, true)?;
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes())?;
        w.inner.flush()?;
    }
    Ok(w.inner)
}

/// Reads `count` little-endian fixed-size values through a bounded buffer.
fn read_vals<R: Read, T, const N: usize>(
    r: &mut R,
    count: usize,
    out: &mut Vec<T>,
    conv: impl Fn([u8; N]) -> T,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; (1 << 16) / N * N];
    let mut left = count;
    out.reserve_exact(count);
    while left > 0 {
        let take = left.min(buf.len() / N);
        let bytes = &mut buf[..take * N];
        r.read_exact(bytes)?;
        for c in bytes.chunks_exact(N) {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            out.push(conv(a));
        }
        left -= take;
    }
    Ok(())
}

pub(crate) fn load(path: &Path, want_dim: Option<usize>) -> Result<Index, IndexError> {
    let file = File::open(path).map_err(io_err(path))?;
    let file_len = file.metadata().map_err(io_err(path))?.len();
    load_stream(
        BufReader::with_capacity(1 << 20, file),
        file_len,
        path,
        want_dim,
    )
}

fn load_stream<R: Read>(
    inner: R,
    file_len: u64,
    path: &Path,
    want_dim: Option<usize>,
) -> Result<Index, IndexError> {
    let p = path.to_path_buf();
    let truncated = |detail: String| IndexError::Truncated {
        path: p.clone(),
        detail,
    };
    let corrupt = |detail: String| IndexError::Corrupt {
        path: p.clone(),
        detail,
    };
    let mut r = CrcReader {
        inner,
        crc: crc32fast::Hasher::new(),
    };
    let mut h = [0u8; HEADER];
    if file_len < HEADER as u64 {
        if file_len >= 8 {
            let mut m = [0u8; 8];
            r.read_exact(&mut m).map_err(io_err(path))?;
            if &m != MAGIC {
                return Err(IndexError::BadMagic { path: p });
            }
        }
        return Err(truncated(format!(
            "{file_len} bytes, shorter than the {HEADER}-byte header"
        )));
    }
    r.read_exact(&mut h).map_err(io_err(path))?;
    if &h[..8] != MAGIC {
        return Err(IndexError::BadMagic { path: p });
    }
    let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap_or([0; 8]));
    let version = u32_at(8);
    if version != VERSION {
        return Err(IndexError::Version {
            path: p,
            found: version,
            supported: VERSION,
        });
    }
    let dim = u32_at(12) as usize;
    if let Some(want) = want_dim {
        if dim != want {
            return Err(IndexError::FileDimension {
                path: p,
                found: dim,
                expected: want,
            });
        }
    }
    let params = IndexParams {
        m: u32_at(16) as usize,
        ef_construction: u32_at(20) as usize,
        ef_search: u32_at(24) as usize,
        rerank: u32_at(28) as usize,
        build_threads: 0,
        seed: u64_at(48),
    };
    check_params(dim, &params).map_err(|e| corrupt(format!("header: {e}")))?;
    let slots64 = u64_at(32);
    let entry = u32_at(40);
    let max_level = u32_at(44);
    if max_level > MAX_LEVEL as u32 {
        return Err(corrupt(format!("max level {max_level} > {MAX_LEVEL}")));
    }
    let m = params.m;
    let m0 = 2 * m;
    // Bytes per node in the fixed-size sections; compare with the file length
    // before allocating anything sized by the header.
    let per_node = 8 + 1 + 1 + 4 * dim as u64 + 4 * (m0 as u64 + 1);
    let fixed = slots64
        .checked_mul(per_node)
        .and_then(|b| b.checked_add(HEADER as u64 + 4))
        .filter(|_| slots64 < u32::MAX as u64)
        .ok_or_else(|| corrupt(format!("implausible node count {slots64}")))?;
    if file_len < fixed {
        return Err(truncated(format!(
            "{file_len} bytes, but {slots64} nodes of dimension {dim} need at least {fixed}"
        )));
    }
    let slots = slots64 as usize;
    let e = |err: std::io::Error| {
        if err.kind() == std::io::ErrorKind::UnexpectedEof {
            truncated("unexpected end of file".into())
        } else {
            IndexError::Io {
                path: p.clone(),
                source: err,
            }
        }
    };
    let mut ids = Vec::new();
    read_vals(&mut r, slots, &mut ids, u64::from_le_bytes).map_err(e)?;
    let mut flags = Vec::new();
    read_vals(&mut r, slots, &mut flags, |[b]: [u8; 1]| b).map_err(e)?;
    let mut levels = Vec::new();
    read_vals(&mut r, slots, &mut levels, |[b]: [u8; 1]| b).map_err(e)?;
    let upper_words: u64 = levels.iter().map(|&l| l as u64 * (m as u64 + 1)).sum();
    let total = fixed + upper_words * 4;
    if file_len < total {
        return Err(truncated(format!("{file_len} bytes, expected {total}")));
    }
    if file_len > total {
        return Err(corrupt(format!(
            "{} trailing bytes after the checksum",
            file_len - total
        )));
    }
    let mut vectors = Vec::new();
    read_vals(&mut r, slots * dim, &mut vectors, f32::from_le_bytes).map_err(e)?;
    let mut words = Vec::new();
    read_vals(
        &mut r,
        slots * (m0 + 1) + upper_words as usize,
        &mut words,
        u32::from_le_bytes,
    )
    .map_err(e)?;
    let computed = r.crc.clone().finalize();
    let mut t = [0u8; 4];
    r.inner.read_exact(&mut t).map_err(e)?;
    let stored = u32::from_le_bytes(t);
    if stored != computed {
        return Err(IndexError::Checksum {
            path: p,
            stored,
            computed,
        });
    }

    // Structure: everything a search indexes with must be in range.
    if let Some(i) = flags.iter().position(|&f| f > 1) {
        return Err(corrupt(format!("node {i}: unknown flags {:#x}", flags[i])));
    }
    if let Some(i) = levels.iter().position(|&l| l as u32 > max_level) {
        return Err(corrupt(format!(
            "node {i}: level {} above max level {max_level}",
            levels[i]
        )));
    }
    if let Some(i) = vectors.iter().position(|x| !x.is_finite()) {
        return Err(corrupt(format!(
            "node {}: non-finite vector component",
            i / dim
        )));
    }
    if slots == 0 {
        if entry != NONE {
            return Err(corrupt("entry point set in an empty index".into()));
        }
    } else if entry as usize >= slots || levels[entry as usize] as u32 != max_level {
        return Err(corrupt(format!("bad entry point {entry}")));
    }
    let check_list = |node: usize, level: usize, list: &[u32]| -> Result<(), IndexError> {
        let cap = list.len() - 1;
        let cnt = list[0] as usize;
        if cnt > cap {
            return Err(corrupt(format!(
                "node {node} level {level}: {cnt} links > {cap}"
            )));
        }
        if let Some(&bad) = list[1..=cnt].iter().find(|&&n| n as usize >= slots) {
            return Err(corrupt(format!(
                "node {node} level {level}: link to {bad} ≥ {slots} nodes"
            )));
        }
        Ok(())
    };
    let (l0, mut up) = words.split_at(slots * (m0 + 1));
    for (i, list) in l0.chunks_exact(m0 + 1).enumerate() {
        check_list(i, 0, list)?;
    }
    let mut graph = Graph::new(m);
    graph.level0 = l0.iter().map(|&w| AtomicU32::new(w)).collect();
    graph.upper.reserve_exact(slots);
    for (i, &l) in levels.iter().enumerate() {
        let n = l as usize * (m + 1);
        let (mine, rest) = up.split_at(n);
        for (j, list) in mine.chunks_exact(m + 1).enumerate() {
            check_list(i, j + 1, list)?;
        }
        graph
            .upper
            .push(mine.iter().map(|&w| AtomicU32::new(w)).collect());
        up = rest;
    }
    drop(words);
    graph.levels = levels;
    graph.entry = entry;
    graph.max_level = max_level as u8;

    let deleted: Vec<bool> = flags.iter().map(|&f| f & 1 != 0).collect();
    let mut slot_of = HashMap::with_capacity(slots);
    for (i, (&id, &d)) in ids.iter().zip(&deleted).enumerate() {
        if !d && slot_of.insert(id, i as u32).is_some() {
            return Err(corrupt(format!("id {id} is live twice")));
        }
    }
    let mut codes = vec![0i8; slots * dim];
    let mut scales = Vec::with_capacity(slots);
    for (v, c) in vectors.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
        scales.push(kernels::quantise(v, c));
    }
    let n_deleted = deleted.iter().filter(|&&d| d).count();
    Ok(Index {
        dim,
        params,
        ids,
        slot_of,
        deleted,
        n_deleted,
        vectors,
        codes,
        scales,
        graph,
        kern: Kernels::detect(),
    })
}
