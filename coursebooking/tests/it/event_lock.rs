//! The stored names of the course-booking events, checked against the
//! committed `coursebooking/events.lock` (see `dcb_core::event_lock`).

#[test]
fn stored_event_names_match_the_lock() {
    dcb_core::assert_event_lock!();
}
