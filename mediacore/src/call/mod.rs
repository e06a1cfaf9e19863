//! Calls: what every call task shares (`shared`), the task that runs a call through the
//! dialplan (`runner`: inbound calls, AMI's Local channels), a call placed through a trunk
//! (`dial`), what a call takes from the caller (`input`) and the dialplan's media steps
//! (`steps`, shared with Local channels); `environment` is the dialplan's AstDB and clock. The campaign modules use
//! `shared`, `dial` and `input`; only `runner` calls into them (the alert line's
//! applications), so nothing here depends on a campaign.
pub mod dial;
pub mod environment;
pub mod input;
pub mod runner;
pub mod shared;
pub mod steps;
