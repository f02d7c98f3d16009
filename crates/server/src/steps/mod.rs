//! Units of work that the API and the controllers both run, each finished
//! before it returns: applying configs and adding triggers (`configs`),
//! triggers that will most likely build nothing (`noop`), a
//! config build's input key and the parts of it that need the world
//! (`inputs`), publishing a build (`publish`), scanning (`scanning`) and
//! attaching SBOMs (`sboms`), signing images and attaching their
//! provenance (`signing`), rebuilding a build to check it is reproducible
//! (`reproduce`), the test stage (`testing`), Koji metadata (`metadata`)
//! and reservations and hub calls (`koji`), filling the outbox
//! (`notify`), repository ownership and immutable tags (`ownership`),
//! promotion (`promotion`) and the evidence its gates read
//! (`evidence`), and retention (`retention`). A step reads and writes the
//! store, may run other steps, and wakes controllers only through the
//! event bus.
pub(crate) mod configs;
pub(crate) mod evidence;
pub(crate) mod inputs;
pub(crate) mod koji;
pub(crate) mod metadata;
pub(crate) mod noop;
pub(crate) mod notify;
pub(crate) mod ownership;
pub(crate) mod projects;
pub(crate) mod promote_external;
pub(crate) mod promotion;
pub(crate) mod publish;
pub(crate) mod reproduce;
pub(crate) mod retention;
pub(crate) mod sboms;
pub(crate) mod scanning;
pub(crate) mod signing;
pub(crate) mod testing;
