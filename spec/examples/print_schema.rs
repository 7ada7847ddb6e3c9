//! Prints the JSON Schema of the spec format; `gatectl schema` does the same.
fn main() {
    print!("{}", gatectl_spec::schema::generate_text());
}
