//! The web console (work in progress, see /work/notes/console-plan.md):
//! sessions and CSRF so far.

pub mod session;
