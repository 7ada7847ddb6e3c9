//! A serde serializer that visits every string of a value with its JSON pointer, without
//! building an intermediate `serde_json::Value`. In the 10,000-route benchmark,
//! `serde_json::to_value` alone took more than half of the rule time, because it allocates a map
//! for every object.

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::document::escape_pointer_token;

/// Calls `visit(pointer, text)` for every string in `value`, map keys excluded.
pub(super) fn visit_strings<T: Serialize + ?Sized>(value: &T, visit: &mut dyn FnMut(&str, &str)) {
    let mut walker = Walker { pointer: String::new(), visit };
    // The walker never fails: unsupported shapes are skipped, not reported.
    let _ = value.serialize(&mut walker);
}

struct Walker<'a> {
    pointer: String,
    visit: &'a mut dyn FnMut(&str, &str),
}

/// Error type required by serde; the walker never returns it.
#[derive(Debug)]
struct Skip;

impl std::fmt::Display for Skip {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("value skipped")
    }
}

impl std::error::Error for Skip {}

impl ser::Error for Skip {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Skip
    }
}

impl Walker<'_> {
    fn child<T: Serialize + ?Sized>(&mut self, token: &str, value: &T) -> Result<(), Skip> {
        let length = self.pointer.len();
        self.pointer.push('/');
        self.pointer.push_str(&escape_pointer_token(token));
        let result = value.serialize(&mut *self);
        self.pointer.truncate(length);
        result
    }
}

/// The state of a sequence, map or struct being walked: the next index, or the pending key.
struct Compound<'w, 'a> {
    walker: &'w mut Walker<'a>,
    index: usize,
    key: Option<String>,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        let token = self.index.to_string();
        self.index += 1;
        self.walker.child(&token, value)
    }
}

macro_rules! ignore_scalars {
    ($($method:ident: $type:ty),*) => {
        $(fn $method(self, _: $type) -> Result<(), Skip> { Ok(()) })*
    };
}

impl<'w, 'a> ser::Serializer for &'w mut Walker<'a> {
    type Ok = ();
    type Error = Skip;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    ignore_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_bytes: &[u8]
    );

    fn serialize_str(self, text: &str) -> Result<(), Skip> {
        (self.visit)(&self.pointer, text);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Skip> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Skip> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Skip> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Skip> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Skip> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Skip> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Skip> {
        self.child(variant, value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Skip> {
        Ok(Compound { walker: self, index: 0, key: None })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        self.element(value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        self.element(value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        self.element(value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        self.element(value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Skip> {
        self.key = key.serialize(KeyText).ok();
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Skip> {
        match self.key.take() {
            Some(key) => self.walker.child(&key, value),
            None => Ok(()),
        }
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Skip> {
        self.walker.child(key, value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Skip;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Skip> {
        self.walker.child(key, value)
    }

    fn end(self) -> Result<(), Skip> {
        Ok(())
    }
}

/// Serializes a map key to its text; keys in the spec model are strings.
struct KeyText;

macro_rules! reject {
    ($($method:ident: $type:ty),*) => {
        $(fn $method(self, _: $type) -> Result<String, Skip> { Err(Skip) })*
    };
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Skip;
    type SerializeSeq = Impossible<String, Skip>;
    type SerializeTuple = Impossible<String, Skip>;
    type SerializeTupleStruct = Impossible<String, Skip>;
    type SerializeTupleVariant = Impossible<String, Skip>;
    type SerializeMap = Impossible<String, Skip>;
    type SerializeStruct = Impossible<String, Skip>;
    type SerializeStructVariant = Impossible<String, Skip>;

    reject!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_bytes: &[u8]
    );

    fn serialize_str(self, text: &str) -> Result<String, Skip> {
        Ok(text.to_owned())
    }

    fn serialize_none(self) -> Result<String, Skip> {
        Err(Skip)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Skip> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<String, Skip> {
        Err(Skip)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Skip> {
        Err(Skip)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Skip> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Skip> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<String, Skip> {
        Err(Skip)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Skip> {
        Err(Skip)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Skip> {
        Err(Skip)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Skip> {
        Err(Skip)
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, Skip> {
        Err(Skip)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Skip> {
        Err(Skip)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Skip> {
        Err(Skip)
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, Skip> {
        Err(Skip)
    }
}
