
pub mod bins;
