//! Ports: the traits the use cases need from the outside world.

pub mod store;

pub use store::{
    AuthStore, NewSession, OtpRecord, SessionRecord, SessionRotation, Store, StoreError,
    StoreResult, UserRecord,
};
