//! The integration tests of `ringstream-frame`, one binary: errors, the model property, and
//! allocation counting.

mod alloc;
mod arrow;
mod errors;
mod json;
mod model;
mod ring;
mod sdk;
