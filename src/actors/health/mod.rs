//! Health actor.
