//! Prints every ONNX model's inputs and outputs as ONNX Runtime sees them:
//! the source of the shapes in models.toml.
//! `cargo run --release -p kuzet-vision --example inspect_models -- $KUZET_MODELS`
fn main() {
    let dir = std::env::args().nth(1).expect("models dir");
    let lib = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH");
    let env = ort::init_from(lib).unwrap().build().unwrap();
    let mut files = Vec::new();
    for d in std::fs::read_dir(&dir).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            for f in std::fs::read_dir(&d).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "onnx") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    for f in files {
        let s = ort::session::Session::builder(&env)
            .unwrap()
            .commit_from_file(&f)
            .unwrap();
        println!("{}", f.display());
        for i in s.inputs() {
            println!("  in  {:?} {:?}", i.name(), i.dtype());
        }
        for o in s.outputs() {
            println!("  out {:?} {:?}", o.name(), o.dtype());
        }
    }
}
