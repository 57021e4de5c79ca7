//! OpenAPI schemas of the domain's wire types whose serde form is hand-written (api.md §1.3–1.6):
//! the JSON shape is defined by the `Serialize` impls next to each type, and described here once
//! so every response that carries them is typed from the same place.

use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, Type,
};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::{Allocation, Irr, Layer, Quantity, Timestamp};

fn described(schema_type: Type, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .description(Some(description))
}

impl PartialSchema for Irr {
    fn schema() -> RefOr<Schema> {
        described(Type::Integer, "Whole Iranian rials, an exact JSON number.")
            .build()
            .into()
    }
}
impl ToSchema for Irr {}

impl PartialSchema for Quantity {
    fn schema() -> RefOr<Schema> {
        described(
            Type::Number,
            "Units of an asset, at most 8 decimal places (exact).",
        )
        .build()
        .into()
    }
}
impl ToSchema for Quantity {}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        described(Type::String, "RFC 3339 UTC instant with milliseconds.")
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .build()
            .into()
    }
}
impl ToSchema for Timestamp {}

impl PartialSchema for Allocation {
    /// `{"FOUNDATION","GROWTH","UPSIDE"}` shares of 0–1 (api.md §1.5).
    fn schema() -> RefOr<Schema> {
        let mut object = described(Type::Object, "Shares of the three layers, each 0–1.")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for layer in Layer::ALL {
            object = object
                .property(
                    layer.as_str(),
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .minimum(Some(0))
                        .maximum(Some(1)),
                )
                .required(layer.as_str());
        }
        object.build().into()
    }
}
impl ToSchema for Allocation {}
