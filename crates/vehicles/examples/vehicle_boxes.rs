//! Prints the vehicles YOLOX finds in each image given on the command line,
//! as `image,x,y,w,h,class,score` rows: the starting point for labelling
//! vehicle colours (`testdata/colour_labels.csv`), whose boxes are then
//! checked by eye.
//!
//! `cargo run --release -p kuzet-vehicles --example vehicle_boxes -- IMG...`

use kuzet_vehicles::{load_image, Anpr, AnprConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut anpr = Anpr::from_env(AnprConfig::default())?;
    for path in std::env::args().skip(1) {
        let img = load_image(std::path::Path::new(&path))?;
        for v in anpr.vehicles(&img)? {
            let b = v.bbox;
            println!(
                "{path},{:.0},{:.0},{:.0},{:.0},{},{:.2}",
                b.x1,
                b.y1,
                b.width(),
                b.height(),
                v.label,
                v.score
            );
        }
    }
    Ok(())
}
