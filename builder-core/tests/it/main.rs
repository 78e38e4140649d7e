//! mkimage-core's integration tests, one module per area.

mod layer;
