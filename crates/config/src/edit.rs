//! Editing the config file in place: the web app's zone and line editor.
//!
//! Edits go through `toml_edit`, so the operator's comments, ordering and
//! `${VAR}` references survive; only the geometry of one zone or line
//! changes (or one is added or removed). The result is validated as a whole
//! with [`Config::parse`] before anything is written, and written atomically
//! (temporary file + rename) with the previous version kept as `.bak`, so a
//! bad edit can neither corrupt the file nor leave it half-written.

use crate::{Config, ConfigError};
use std::path::Path;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

/// What to change in one camera's `[[camera.zone]]` / `[[camera.line]]` list.
#[derive(Clone, Debug, PartialEq)]
pub enum GeometryEdit {
    /// Set a zone's polygon (creating the zone with defaults if absent).
    Zone { polygon: Vec<[f32; 2]> },
    /// Set a line's end points (creating the line if absent).
    Line { from: [f32; 2], to: [f32; 2] },
    /// Remove the zone called `name`.
    RemoveZone,
    /// Remove the line called `name`.
    RemoveLine,
}

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the config file is not valid TOML: {0}")]
    Parse(String),
    #[error("no camera with id {0:?} in the config file")]
    NoCamera(String),
    #[error("no {kind} called {name:?} on camera {camera:?}")]
    NotFound {
        kind: &'static str,
        camera: String,
        name: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("the edited config is invalid: {0}")]
    Invalid(#[from] ConfigError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Points are normalised frame coordinates; rounded so the file stays readable.
fn point(p: [f32; 2]) -> Array {
    let r = |v: f32| (f64::from(v.clamp(0.0, 1.0)) * 10_000.0).round() / 10_000.0;
    let mut a = Array::new();
    a.push(r(p[0]));
    a.push(r(p[1]));
    a
}

/// Applies `edit` to zone/line `name` of camera `camera` in `text` and
/// returns the new text, validated as a whole config.
pub fn apply(
    text: &str,
    camera: &str,
    name: &str,
    edit: &GeometryEdit,
) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    let cams = doc
        .get_mut("camera")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| EditError::NoCamera(camera.to_owned()))?;
    let cam = cams
        .iter_mut()
        .find(|t| t.get("id").and_then(Item::as_str) == Some(camera))
        .ok_or_else(|| EditError::NoCamera(camera.to_owned()))?;
    let key = match edit {
        GeometryEdit::Zone { .. } | GeometryEdit::RemoveZone => "zone",
        GeometryEdit::Line { .. } | GeometryEdit::RemoveLine => "line",
    };
    if cam.get(key).is_some_and(|i| !i.is_array_of_tables()) {
        return Err(EditError::Unsupported(format!(
            "camera {camera:?} writes its {key}s as an inline array; the editor needs [[camera.{key}]] tables: edit that camera's {key}s by hand"
        )));
    }
    let list = cam
        .entry(key)
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .expect("checked above");
    let pos = list
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name));
    match (edit, pos) {
        (GeometryEdit::RemoveZone | GeometryEdit::RemoveLine, Some(i)) => {
            list.remove(i);
        }
        (GeometryEdit::RemoveZone | GeometryEdit::RemoveLine, None) => {
            return Err(EditError::NotFound {
                kind: key,
                camera: camera.to_owned(),
                name: name.to_owned(),
            })
        }
        (GeometryEdit::Zone { polygon }, pos) => {
            let mut arr = Array::new();
            for p in polygon {
                arr.push(point(*p));
            }
            let t = table_for(list, pos, name);
            t["polygon"] = value(arr);
        }
        (GeometryEdit::Line { from, to }, pos) => {
            let t = table_for(list, pos, name);
            t["from"] = value(point(*from));
            t["to"] = value(point(*to));
        }
    }
    let out = doc.to_string();
    Config::parse(&out, "edited config")?;
    Ok(out)
}

fn table_for<'a>(list: &'a mut ArrayOfTables, pos: Option<usize>, name: &str) -> &'a mut Table {
    let i = match pos {
        Some(i) => i,
        None => {
            let mut t = Table::new();
            t["name"] = value(name);
            list.push(t);
            list.len() - 1
        }
    };
    list.get_mut(i).expect("index from position or push")
}

/// Applies `edit` to the file at `path` and returns the new, validated
/// config. The file changes only if the result is valid.
pub fn edit_file(
    path: &Path,
    camera: &str,
    name: &str,
    edit: &GeometryEdit,
) -> Result<Config, EditError> {
    let io = |source| EditError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let out = apply(&text, camera, name, edit)?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &out).map_err(io)?;
    std::fs::copy(path, path.with_extension("toml.bak")).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(Config::load(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# Operator's notes survive edits.
[[camera]]
id = "gate"
url = "rtsp://10.0.0.5/stream"  # kept as written

[[camera.zone]]
name = "yard"
polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
dwell_seconds = 30 # comment on dwell

[[camera]]
id = "road"
url = "/videos/road.mp4"
"#;

    #[test]
    fn changes_one_polygon_and_keeps_everything_else() {
        let out = apply(
            TEXT,
            "gate",
            "yard",
            &GeometryEdit::Zone {
                polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]],
            },
        )
        .unwrap();
        assert!(out.starts_with("# Operator's notes survive edits."));
        assert!(out.contains("rtsp://10.0.0.5/stream\"  # kept as written"));
        assert!(out.contains("dwell_seconds = 30 # comment on dwell"));
        let cfg = Config::parse(&out, "t").unwrap();
        let z = &cfg.cameras[0].zones[0];
        assert_eq!(z.polygon.len(), 4);
        assert_eq!(z.dwell_seconds, Some(30.0));
    }

    #[test]
    fn adds_and_removes_zones_and_lines() {
        let out = apply(
            TEXT,
            "road",
            "stop",
            &GeometryEdit::Line {
                from: [0.0, 0.7],
                to: [1.2, 0.7],
            },
        )
        .unwrap();
        let cfg = Config::parse(&out, "t").unwrap();
        let l = &cfg.cameras[1].lines[0];
        assert_eq!(
            (l.name.as_str(), l.to),
            ("stop", [1.0, 0.7]),
            "clamped into the frame"
        );
        let out = apply(&out, "road", "stop", &GeometryEdit::RemoveLine).unwrap();
        assert!(Config::parse(&out, "t").unwrap().cameras[1]
            .lines
            .is_empty());
        let out = apply(
            &out,
            "road",
            "kerb",
            &GeometryEdit::Zone {
                polygon: vec![[0.0, 0.8], [1.0, 0.8], [1.0, 1.0]],
            },
        )
        .unwrap();
        assert_eq!(
            Config::parse(&out, "t").unwrap().cameras[1].zones[0].name,
            "kerb"
        );
    }

    #[test]
    fn refuses_what_it_cannot_do_and_invalid_results() {
        assert!(matches!(
            apply(TEXT, "nope", "yard", &GeometryEdit::RemoveZone),
            Err(EditError::NoCamera(_))
        ));
        assert!(matches!(
            apply(TEXT, "gate", "nope", &GeometryEdit::RemoveZone),
            Err(EditError::NotFound { .. })
        ));
        // A zone needs at least three points: validation refuses the result.
        assert!(matches!(
            apply(
                TEXT,
                "gate",
                "yard",
                &GeometryEdit::Zone {
                    polygon: vec![[0.0, 0.0]]
                }
            ),
            Err(EditError::Invalid(_))
        ));
        let inline = "[[camera]]\nid = \"a\"\nurl = \"x.mp4\"\nzone = [{ name = \"z\", polygon = [[0,0],[1,0],[1,1]] }]\n";
        assert!(matches!(
            apply(inline, "a", "z", &GeometryEdit::RemoveZone),
            Err(EditError::Unsupported(_))
        ));
    }

    #[test]
    fn edit_file_is_atomic_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kuzet.toml");
        std::fs::write(&path, TEXT).unwrap();
        let bad = edit_file(
            &path,
            "gate",
            "yard",
            &GeometryEdit::Zone { polygon: vec![] },
        );
        assert!(bad.is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            TEXT,
            "unchanged after a refused edit"
        );
        let cfg = edit_file(&path, "gate", "yard", &GeometryEdit::RemoveZone).unwrap();
        assert!(cfg.cameras[0].zones.is_empty());
        assert_eq!(
            std::fs::read_to_string(path.with_extension("toml.bak")).unwrap(),
            TEXT
        );
    }
}
