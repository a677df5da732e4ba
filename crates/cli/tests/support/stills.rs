//! Labelled plate stills for the end-to-end tests, chosen by a rule on the
//! labels alone (US plates at least 150 px wide, the first four by path),
//! never by what the recogniser happens to read.

/// (path relative to the data root, plate text, plate box width).
pub fn chosen_stills() -> Vec<(String, String, u32)> {
    let labels = base::env::require_data("plates/labels.csv");
    let text = std::fs::read_to_string(labels).unwrap();
    let mut rows: Vec<(String, String, u32)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let w: u32 = f.get(5)?.trim().parse().ok()?;
            (f[1] == "us" && w >= 150).then(|| (f[0].to_string(), f[2].to_string(), w))
        })
        .collect();
    rows.sort();
    rows.truncate(4);
    assert_eq!(rows.len(), 4, "labels.csv has fewer than 4 wide US plates");
    rows
}

/// Copies the chosen stills into `folder` (created), a snapshot source.
pub fn copy_stills(folder: &std::path::Path) -> Vec<(String, String, u32)> {
    let stills = chosen_stills();
    std::fs::create_dir_all(folder).unwrap();
    for (rel, _, _) in &stills {
        let src = base::env::require_data(rel);
        std::fs::copy(&src, folder.join(src.file_name().unwrap())).unwrap();
    }
    stills
}
