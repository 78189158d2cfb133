//! `#[read_model]` on an impl block of handlers.

use quote::quote;

use super::assert_snapshot;

#[test]
fn read_model_handlers() {
    let input = quote! {
        impl CourseNames {
            fn registered(&mut self, event: &CourseRegistered) {
                self.0.insert(event.course_id, event.name.clone());
            }

            fn renamed(&mut self, event: &CourseRenamed, position: Position) {
                self.0.insert(event.course_id, event.name.clone());
                self.1 = Some(position);
            }
        }
    };
    let expansion = crate::read_model::attribute(&quote!(), input.clone());
    assert_snapshot("read_model_handlers", "#[read_model]", &input, expansion);
}
