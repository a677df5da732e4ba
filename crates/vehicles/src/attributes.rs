//! Per-vehicle attributes: class, colour and make/model.
//!
//! Make/model needs a classifier trained on vehicle makes, and the models
//! folder holds none (shared/models/MANIFEST.md: "No model found: vehicle
//! type/colour"). Rather than guess from shape or colour, the attribute is
//! [`MakeModel::Unavailable`] until a model with the [`MAKE_MODEL_ROLE`]
//! role is listed in `models.toml` *and* this crate has a decoder for it;
//! an event or search result then says plainly that make/model is unknown
//! for lack of a model, not that the vehicle has none.

use crate::colour::{ColourEstimate, VehicleColour};
use serde::{Serialize, Serializer};
use vision::ModelManifest;

/// The `role` a make/model classifier must carry in `models.toml`.
pub const MAKE_MODEL_ROLE: &str = "vehicle make/model";

/// Make and model of a vehicle.
#[derive(Clone, Debug, PartialEq)]
pub enum MakeModel {
    /// No make/model classifier is configured: serialises as the string
    /// `"unavailable"`, never as a guess.
    Unavailable,
    /// A classifier's answer.
    Predicted {
        make: String,
        /// `None` when the classifier only names the make.
        model: Option<String>,
        confidence: f32,
    },
}

impl Serialize for MakeModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MakeModel::Unavailable => s.serialize_str("unavailable"),
            MakeModel::Predicted {
                make,
                model,
                confidence,
            } => {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("MakeModel", 3)?;
                st.serialize_field("make", make)?;
                st.serialize_field("model", model)?;
                st.serialize_field("confidence", confidence)?;
                st.end()
            }
        }
    }
}

/// Whether make/model can be predicted with the models at hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MakeModelSlot {
    /// No manifest entry has [`MAKE_MODEL_ROLE`].
    NotConfigured,
    /// An entry exists but this build has no decoder for its outputs (the
    /// output classes of a make/model model are specific to how it was
    /// trained), so nothing is predicted.
    Unsupported { key: String },
}

impl MakeModelSlot {
    /// Looks the role up in the manifest (case-insensitive).
    pub fn from_manifest(m: &ModelManifest) -> Self {
        match m
            .models
            .iter()
            .find(|(_, e)| e.role.trim().eq_ignore_ascii_case(MAKE_MODEL_ROLE))
        {
            None => MakeModelSlot::NotConfigured,
            Some((key, _)) => MakeModelSlot::Unsupported { key: key.clone() },
        }
    }

    /// The attribute this slot yields: `Unavailable` in every current case.
    pub fn predict(&self) -> MakeModel {
        MakeModel::Unavailable
    }
}

/// What is known about one vehicle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VehicleAttributes {
    /// Detector class (`car`, `bus`, `truck`, `motorcycle`).
    pub class: String,
    pub colour: VehicleColour,
    /// 0..1; 0 with `colour: unknown` when no crop could be judged.
    pub colour_confidence: f32,
    pub make_model: MakeModel,
}

impl VehicleAttributes {
    pub fn new(class: impl Into<String>, colour: &ColourEstimate, slot: &MakeModelSlot) -> Self {
        VehicleAttributes {
            class: class.into(),
            colour: colour.colour,
            colour_confidence: colour.confidence,
            make_model: slot.predict(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colour::{classify, ColourConfig};

    #[test]
    fn the_shipped_manifest_has_no_make_model_model_so_it_is_unavailable() {
        let slot = MakeModelSlot::from_manifest(&ModelManifest::embedded());
        assert_eq!(slot, MakeModelSlot::NotConfigured);
        assert_eq!(slot.predict(), MakeModel::Unavailable);
    }

    #[test]
    fn a_listed_but_undecodable_model_is_still_unavailable() {
        let mut m = ModelManifest::embedded();
        let mut e = m.models.values().next().unwrap().clone();
        e.role = "Vehicle Make/Model".into();
        m.models.insert("mm".into(), e);
        let slot = MakeModelSlot::from_manifest(&m);
        assert_eq!(slot, MakeModelSlot::Unsupported { key: "mm".into() });
        assert_eq!(slot.predict(), MakeModel::Unavailable);
    }

    #[test]
    fn attributes_serialise_make_model_as_unavailable() {
        let crop = image::RgbImage::from_pixel(40, 30, image::Rgb([200, 20, 25]));
        let c = classify(&crop, &ColourConfig::default());
        let a = VehicleAttributes::new("car", &c, &MakeModelSlot::NotConfigured);
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j["make_model"], "unavailable");
        assert_eq!(j["colour"], "red");
        assert_eq!(j["class"], "car");
        let p = MakeModel::Predicted {
            make: "Skoda".into(),
            model: None,
            confidence: 0.5,
        };
        assert_eq!(serde_json::to_value(&p).unwrap()["make"], "Skoda");
    }
}
