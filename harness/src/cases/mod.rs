//! The case catalog. Card cases live in [`card`], issuer cases in [`issuer`]; each case lists
//! the spec tags it checks, and the coverage test counts the tags cited here.

pub mod card;
pub mod issuer;
