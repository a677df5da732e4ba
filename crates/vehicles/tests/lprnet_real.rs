//! LPRNet on the 94×24 Chinese plate crops of `$KUZET_MODELS/testdata/lpr_crops`
//! (sirius-ai/LPRNet_Pytorch's test images, each named by its text).

use kuzet_vehicles::{load_image, LprNet};
use vision::{ModelManifest, SessionConfig};

#[test]
fn lprnet_reads_chinese_plate_crops() {
    let models = base::env::require_models();
    let mut net = LprNet::new(
        &ModelManifest::embedded(),
        &models,
        &SessionConfig::default(),
    )
    .expect("lprnet loads");
    let dir = models.join("testdata/lpr_crops");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 40);
    let (mut exact, mut wrong) = (0, Vec::new());
    for f in &files {
        let truth = f.file_stem().unwrap().to_string_lossy().to_string();
        let read = net.read(&load_image(f).unwrap()).unwrap();
        assert_eq!(read.chars.len(), read.alts.len());
        assert!(read.chars.iter().all(|&(_, p)| (0.0..=1.0).contains(&p)));
        if read.text() == truth {
            exact += 1;
        } else {
            wrong.push((truth, read.text()));
        }
    }
    eprintln!("LPRNet: {exact}/40 exact; wrong: {wrong:?}");
    assert!(exact >= 34, "{exact}/40 exact; wrong: {wrong:?}");
}
