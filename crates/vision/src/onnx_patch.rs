//! In-memory edits of an ONNX `ModelProto` so a model exported with a fixed
//! batch of 1 can run N camera frames in one inference call.
//!
//! Why hand-written: the edits touch a handful of fields (graph inputs/outputs,
//! `value_info`, Reshape shape constants), and ONNX is plain protobuf. A
//! generated-code crate (`prost` + `onnx.proto`, or `onnx-protobuf` with its
//! `protobuf` runtime) would need a build script or a large generated module
//! and decodes every 3.7 MB weight tensor only to write it back. Walking the
//! wire format and rewriting just the few nested messages on the path keeps the
//! weights as opaque byte slices, needs no new dependency, and takes well under
//! a millisecond.
//!
//! Protobuf field numbers used (from onnx.proto3):
//! - `ModelProto.graph` = 7
//! - `GraphProto`: `node` = 1, `initializer` = 5, `input` = 11, `output` = 12, `value_info` = 13
//! - `NodeProto`: `input` = 1, `output` = 2, `op_type` = 4, `attribute` = 5
//! - `AttributeProto`: `name` = 1, `t` = 5
//! - `TensorProto`: `dims` = 1, `data_type` = 2, `int64_data` = 7, `name` = 8, `raw_data` = 9
//! - `ValueInfoProto`: `name` = 1, `type` = 2; `TypeProto.tensor_type` = 1;
//!   `TypeProto.Tensor.shape` = 2; `TensorShapeProto.dim` = 1;
//!   `Dimension`: `dim_value` = 1, `dim_param` = 2

use std::collections::HashSet;

/// What went wrong while patching: always a malformed or unexpected model.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Unsupported(String),
}

const WT_VARINT: u8 = 0;
const WT_I64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_I32: u8 = 5;

/// One field of a message, borrowed from the buffer.
#[derive(Clone, Copy, Debug)]
struct Field<'a> {
    num: u32,
    wire: u8,
    /// Varint value (wire type 0) or 0.
    varint: u64,
    /// Payload of a length-delimited field (wire type 2), else empty.
    data: &'a [u8],
    /// The whole encoded field, tag included, for copying through unchanged.
    raw: &'a [u8],
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, PatchError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or(PatchError::Malformed("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(PatchError::Malformed("varint too long"))
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, PatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = read_varint(buf, &mut pos)?;
        let num = (tag >> 3) as u32;
        let wire = (tag & 7) as u8;
        let mut varint = 0;
        let mut data: &[u8] = &[];
        match wire {
            WT_VARINT => varint = read_varint(buf, &mut pos)?,
            WT_I64 => pos += 8,
            WT_I32 => pos += 4,
            WT_LEN => {
                let len = read_varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|&e| e <= buf.len())
                    .ok_or(PatchError::Malformed("length past end of message"))?;
                data = &buf[pos..end];
                pos = end;
            }
            _ => return Err(PatchError::Malformed("unsupported wire type (group)")),
        }
        if pos > buf.len() {
            return Err(PatchError::Malformed("field past end of message"));
        }
        out.push(Field {
            num,
            wire,
            varint,
            data,
            raw: &buf[start..pos],
        });
    }
    Ok(out)
}

fn push_len_field(out: &mut Vec<u8>, num: u32, payload: &[u8]) {
    write_varint(out, (u64::from(num) << 3) | u64::from(WT_LEN));
    write_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// What to do with one field while re-encoding a message.
enum Edit {
    Keep,
    Drop,
    /// Replace a length-delimited field's payload (same field number).
    Payload(Vec<u8>),
}

fn rewrite<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(&Field<'a>) -> Result<Edit, PatchError>,
) -> Result<Vec<u8>, PatchError> {
    let mut out = Vec::with_capacity(buf.len() + 64);
    for field in fields(buf)? {
        match f(&field)? {
            Edit::Keep => out.extend_from_slice(field.raw),
            Edit::Drop => {}
            Edit::Payload(p) => push_len_field(&mut out, field.num, &p),
        }
    }
    Ok(out)
}

fn string_field(msg: &[u8], num: u32) -> Result<Option<&str>, PatchError> {
    Ok(fields(msg)?
        .into_iter()
        .find(|f| f.num == num && f.wire == WT_LEN)
        .and_then(|f| std::str::from_utf8(f.data).ok()))
}

/// Rewrites dimensions of a `ValueInfoProto`'s tensor shape to symbolic
/// names: `edits` holds (dim index, name, required fixed value or `None` for
/// any fixed value). Returns how many dims changed.
fn patch_value_info_dims(vi: &[u8], edits: &[DimEdit<'_>]) -> Result<(Vec<u8>, usize), PatchError> {
    let mut changed = 0;
    let out = rewrite(vi, |f| {
        if f.num != 2 || f.wire != WT_LEN {
            return Ok(Edit::Keep);
        }
        // TypeProto
        let ty = rewrite(f.data, |t| {
            if t.num != 1 || t.wire != WT_LEN {
                return Ok(Edit::Keep);
            }
            // TypeProto.Tensor
            let tensor = rewrite(t.data, |s| {
                if s.num != 2 || s.wire != WT_LEN {
                    return Ok(Edit::Keep);
                }
                // TensorShapeProto: repeated `dim`, counted in order.
                let mut index = 0usize;
                let shape = rewrite(s.data, |d| {
                    if d.num != 1 || d.wire != WT_LEN {
                        return Ok(Edit::Keep);
                    }
                    let i = index;
                    index += 1;
                    let Some(edit) = edits.iter().find(|e| e.index == i) else {
                        return Ok(Edit::Keep);
                    };
                    let value = fields(d.data)?
                        .iter()
                        .find(|x| x.num == 1 && x.wire == WT_VARINT)
                        .map(|x| x.varint);
                    match (value, edit.if_value) {
                        (Some(v), Some(want)) if v != want => return Ok(Edit::Keep),
                        (None, _) => return Ok(Edit::Keep),
                        _ => {}
                    }
                    changed += 1;
                    let mut dim = Vec::new();
                    push_len_field(&mut dim, 2, edit.param.as_bytes());
                    Ok(Edit::Payload(dim))
                })?;
                Ok(Edit::Payload(shape))
            })?;
            Ok(Edit::Payload(tensor))
        })?;
        Ok(Edit::Payload(ty))
    })?;
    Ok((out, changed))
}

/// One dimension to make symbolic.
#[derive(Clone, Copy, Debug)]
pub struct DimEdit<'a> {
    /// Position in the tensor's shape.
    pub index: usize,
    /// Symbolic name to give it.
    pub param: &'a str,
    /// Only patch when the fixed value is this (`Some(1)` for a batch dim).
    pub if_value: Option<u64>,
}

/// If `tensor` (a `TensorProto`) is a 1-D int64 whose first element is 1,
/// returns a copy whose first element is 0 ("copy this dim from the input"
/// in Reshape semantics), else `None`.
fn zero_leading_one(tensor: &[u8]) -> Result<Option<Vec<u8>>, PatchError> {
    let fs = fields(tensor)?;
    let dtype = fs
        .iter()
        .find(|f| f.num == 2 && f.wire == WT_VARINT)
        .map(|f| f.varint);
    if dtype != Some(7) {
        return Ok(None); // not INT64
    }
    let mut done = false;
    let out = rewrite(tensor, |f| {
        if done || f.wire != WT_LEN {
            return Ok(Edit::Keep);
        }
        match f.num {
            // raw_data: little-endian int64s
            9 if f.data.len() >= 8 && f.data[..8] == 1i64.to_le_bytes() => {
                done = true;
                let mut p = f.data.to_vec();
                p[..8].copy_from_slice(&0i64.to_le_bytes());
                Ok(Edit::Payload(p))
            }
            // packed int64_data: first varint is 1 (one byte 0x01)
            7 if f.data.first() == Some(&1) => {
                done = true;
                let mut p = f.data.to_vec();
                p[0] = 0;
                Ok(Edit::Payload(p))
            }
            _ => Ok(Edit::Keep),
        }
    })?;
    Ok(done.then_some(out))
}

/// Summary of what [`make_batch_dynamic`] changed, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PatchReport {
    pub inputs: usize,
    pub outputs: usize,
    pub value_infos_dropped: usize,
    pub reshape_constants: usize,
}

/// Makes the leading (batch) dimension of the named graph inputs and outputs
/// symbolic (`param`), drops `value_info` (intermediate shapes recorded with
/// batch 1 would contradict a larger batch; ONNX Runtime re-infers them), and
/// turns Reshape target shapes that start with a literal 1 into 0 (copy the
/// batch from the input) so flattening heads stay per-image.
///
/// Errors if a named input/output is not found with a fixed batch of 1, so a
/// model that changed upstream fails loudly instead of silently running batch 1.
pub fn make_batch_dynamic(
    model: &[u8],
    inputs: &[&str],
    outputs: &[&str],
    param: &str,
) -> Result<(Vec<u8>, PatchReport), PatchError> {
    let batch = [DimEdit {
        index: 0,
        param,
        if_value: Some(1),
    }];
    let ins: Vec<(&str, &[DimEdit])> = inputs.iter().map(|n| (*n, &batch[..])).collect();
    let outs: Vec<(&str, &[DimEdit])> = outputs.iter().map(|n| (*n, &batch[..])).collect();
    make_dims_dynamic(model, &ins, &outs)
}

/// General form of [`make_batch_dynamic`]: for each named graph input/output,
/// the listed dims become symbolic. Every named tensor must have at least one
/// dim patched, or the call fails.
pub fn make_dims_dynamic(
    model: &[u8],
    inputs: &[(&str, &[DimEdit<'_>])],
    outputs: &[(&str, &[DimEdit<'_>])],
) -> Result<(Vec<u8>, PatchReport), PatchError> {
    let mut report = PatchReport::default();
    let mut graph_seen = false;
    let out = rewrite(model, |f| {
        if f.num != 7 || f.wire != WT_LEN {
            return Ok(Edit::Keep);
        }
        graph_seen = true;
        let g = patch_graph(f.data, inputs, outputs, &mut report)?;
        Ok(Edit::Payload(g))
    })?;
    if !graph_seen {
        return Err(PatchError::Malformed("no graph in model"));
    }
    if report.inputs != inputs.len() || report.outputs != outputs.len() {
        let names =
            |v: &[(&str, &[DimEdit])]| v.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        return Err(PatchError::Unsupported(format!(
            "expected fixed dims on inputs {:?} and outputs {:?}, patched {} inputs and {} outputs",
            names(inputs),
            names(outputs),
            report.inputs,
            report.outputs
        )));
    }
    Ok((out, report))
}

fn patch_graph(
    graph: &[u8],
    inputs: &[(&str, &[DimEdit<'_>])],
    outputs: &[(&str, &[DimEdit<'_>])],
    report: &mut PatchReport,
) -> Result<Vec<u8>, PatchError> {
    // First pass: names of tensors fed to Reshape as the target shape.
    let mut reshape_shapes: HashSet<&str> = HashSet::new();
    for f in fields(graph)? {
        if f.num != 1 || f.wire != WT_LEN {
            continue;
        }
        if string_field(f.data, 4)? == Some("Reshape") {
            let node_inputs: Vec<&str> = fields(f.data)?
                .into_iter()
                .filter(|x| x.num == 1 && x.wire == WT_LEN)
                .filter_map(|x| std::str::from_utf8(x.data).ok())
                .collect();
            if let Some(shape) = node_inputs.get(1) {
                reshape_shapes.insert(shape);
            }
        }
    }
    rewrite(graph, |f| {
        if f.wire != WT_LEN {
            return Ok(Edit::Keep);
        }
        match f.num {
            11 | 12 => {
                let wanted = if f.num == 11 { inputs } else { outputs };
                let name = string_field(f.data, 1)?.unwrap_or_default();
                let Some((_, edits)) = wanted.iter().find(|(n, _)| *n == name) else {
                    return Ok(Edit::Keep);
                };
                let (vi, changed) = patch_value_info_dims(f.data, edits)?;
                if changed > 0 {
                    if f.num == 11 {
                        report.inputs += 1;
                    } else {
                        report.outputs += 1;
                    }
                }
                Ok(Edit::Payload(vi))
            }
            13 => {
                report.value_infos_dropped += 1;
                Ok(Edit::Drop)
            }
            // initializer used as a Reshape shape
            5 => {
                let name = string_field(f.data, 8)?.unwrap_or_default();
                if !reshape_shapes.contains(name) {
                    return Ok(Edit::Keep);
                }
                match zero_leading_one(f.data)? {
                    Some(t) => {
                        report.reshape_constants += 1;
                        Ok(Edit::Payload(t))
                    }
                    None => Ok(Edit::Keep),
                }
            }
            // Constant node producing a Reshape shape
            1 => {
                let node = f.data;
                if string_field(node, 4)? != Some("Constant") {
                    return Ok(Edit::Keep);
                }
                let feeds_reshape = fields(node)?
                    .iter()
                    .filter(|x| x.num == 2 && x.wire == WT_LEN)
                    .filter_map(|x| std::str::from_utf8(x.data).ok())
                    .any(|o| reshape_shapes.contains(o));
                if !feeds_reshape {
                    return Ok(Edit::Keep);
                }
                let mut changed = false;
                let new_node = rewrite(node, |a| {
                    if a.num != 5 || a.wire != WT_LEN || string_field(a.data, 1)? != Some("value") {
                        return Ok(Edit::Keep);
                    }
                    let attr = rewrite(a.data, |t| {
                        if t.num != 5 || t.wire != WT_LEN {
                            return Ok(Edit::Keep);
                        }
                        match zero_leading_one(t.data)? {
                            Some(p) => {
                                changed = true;
                                Ok(Edit::Payload(p))
                            }
                            None => Ok(Edit::Keep),
                        }
                    })?;
                    Ok(Edit::Payload(attr))
                })?;
                if changed {
                    report.reshape_constants += 1;
                }
                Ok(Edit::Payload(new_node))
            }
            _ => Ok(Edit::Keep),
        }
    })
}

/// Exposes intermediate tensors as extra graph outputs, so one inference
/// returns backbone/neck feature maps next to the model's own outputs (used by
/// [`crate::features`] to train small heads on a pretrained detector's
/// features without exporting a new model).
///
/// Each `(name, rank)` must be the output of some node and not already a graph
/// output; it is appended after the existing outputs, in the given order, as a
/// float tensor whose `rank` dims are all symbolic (`<name>_d<i>`), so a
/// session reports them as dynamic. Existing outputs, inputs, nodes and
/// weights are copied through unchanged.
pub fn add_graph_outputs(model: &[u8], outputs: &[(&str, usize)]) -> Result<Vec<u8>, PatchError> {
    let mut graph_seen = false;
    let out = rewrite(model, |f| {
        if f.num != 7 || f.wire != WT_LEN {
            return Ok(Edit::Keep);
        }
        graph_seen = true;
        let mut produced: HashSet<&str> = HashSet::new();
        let mut existing: HashSet<&str> = HashSet::new();
        for g in fields(f.data)? {
            if g.wire != WT_LEN {
                continue;
            }
            match g.num {
                1 => produced.extend(
                    fields(g.data)?
                        .into_iter()
                        .filter(|x| x.num == 2 && x.wire == WT_LEN)
                        .filter_map(|x| std::str::from_utf8(x.data).ok()),
                ),
                12 => {
                    if let Some(n) = string_field(g.data, 1)? {
                        existing.insert(n);
                    }
                }
                _ => {}
            }
        }
        let mut graph = f.data.to_vec();
        for (name, rank) in outputs {
            if !produced.contains(name) {
                return Err(PatchError::Unsupported(format!(
                    "no node produces tensor `{name}`"
                )));
            }
            if existing.contains(name) {
                return Err(PatchError::Unsupported(format!(
                    "`{name}` is already a graph output"
                )));
            }
            let mut shape = Vec::new();
            for i in 0..*rank {
                let mut dim = Vec::new();
                push_len_field(&mut dim, 2, format!("{name}_d{i}").as_bytes());
                push_len_field(&mut shape, 1, &dim);
            }
            let mut tensor = Vec::new();
            write_varint(&mut tensor, 1 << 3); // elem_type
            write_varint(&mut tensor, 1); // FLOAT
            push_len_field(&mut tensor, 2, &shape);
            let mut ty = Vec::new();
            push_len_field(&mut ty, 1, &tensor);
            let mut vi = Vec::new();
            push_len_field(&mut vi, 1, name.as_bytes());
            push_len_field(&mut vi, 2, &ty);
            push_len_field(&mut graph, 12, &vi);
        }
        Ok(Edit::Payload(graph))
    })?;
    if !graph_seen {
        return Err(PatchError::Malformed("no graph in model"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
        let mut shape = Vec::new();
        for &d in dims {
            let mut dim = Vec::new();
            write_varint(&mut dim, 1 << 3);
            write_varint(&mut dim, d);
            push_len_field(&mut shape, 1, &dim);
        }
        let mut tensor = Vec::new();
        write_varint(&mut tensor, 1 << 3);
        write_varint(&mut tensor, 1); // FLOAT
        push_len_field(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        push_len_field(&mut ty, 1, &tensor);
        let mut vi = Vec::new();
        push_len_field(&mut vi, 1, name.as_bytes());
        push_len_field(&mut vi, 2, &ty);
        vi
    }

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn patches_batch_dims_and_drops_value_info() {
        let mut graph = Vec::new();
        push_len_field(&mut graph, 11, &value_info("images", &[1, 3, 416, 416]));
        push_len_field(&mut graph, 12, &value_info("output", &[1, 3549, 85]));
        push_len_field(&mut graph, 13, &value_info("mid", &[1, 8]));
        let mut model = Vec::new();
        write_varint(&mut model, 1 << 3);
        write_varint(&mut model, 7); // ir_version
        push_len_field(&mut model, 7, &graph);

        let (out, rep) = make_batch_dynamic(&model, &["images"], &["output"], "batch").unwrap();
        assert_eq!(
            rep,
            PatchReport {
                inputs: 1,
                outputs: 1,
                value_infos_dropped: 1,
                reshape_constants: 0
            }
        );
        // The patched model still parses and names the symbolic dim.
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("batch").count(), 2);
        // Unknown names are refused.
        assert!(make_batch_dynamic(&model, &["nope"], &["output"], "batch").is_err());
        // Truncated buffers are refused, not mis-patched.
        assert!(
            make_batch_dynamic(&model[..model.len() - 3], &["images"], &["output"], "b").is_err()
        );
    }

    #[test]
    fn adds_intermediate_outputs() {
        let mut node = Vec::new();
        push_len_field(&mut node, 1, b"images");
        push_len_field(&mut node, 2, b"mid");
        push_len_field(&mut node, 4, b"Relu");
        let mut graph = Vec::new();
        push_len_field(&mut graph, 1, &node);
        push_len_field(&mut graph, 11, &value_info("images", &[1, 3, 8, 8]));
        push_len_field(&mut graph, 12, &value_info("output", &[1, 3, 8, 8]));
        let mut model = Vec::new();
        push_len_field(&mut model, 7, &graph);

        let out = add_graph_outputs(&model, &[("mid", 4)]).unwrap();
        let g = fields(&out).unwrap()[0].data;
        let outs: Vec<&str> = fields(g)
            .unwrap()
            .iter()
            .filter(|f| f.num == 12)
            .filter_map(|f| string_field(f.data, 1).unwrap())
            .collect();
        assert_eq!(outs, ["output", "mid"]);
        assert!(String::from_utf8_lossy(&out).contains("mid_d3"));
        // Unknown tensors and existing outputs are refused.
        assert!(add_graph_outputs(&model, &[("nope", 4)]).is_err());
        assert!(add_graph_outputs(&model, &[("output", 3)]).is_err());
    }
}
