//! OpenAPI-style path templates such as `/users/{id}/files/{file.name}`.
//!
//! A template is a sequence of segments, each a literal or one parameter that fills the whole
//! segment. Parameter names may use any characters except `{`, `}` and `/`, up to 255 bytes,
//! because real OpenAPI files use names such as `item-id`, `file.name` and `città`.

use std::fmt;

/// Longest accepted parameter name, in bytes.
pub const MAX_PARAMETER_NAME_BYTES: usize = 255;

/// One segment of a template.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    Parameter(String),
}

/// A parsed path template.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
    /// Whether the template ends with `/` (an empty last segment).
    pub trailing_slash: bool,
}

/// Why a template is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("a path template must start with `/`")]
    MissingLeadingSlash,
    #[error("segment `{segment}` mixes a parameter with other text; a parameter must fill a whole segment")]
    PartialSegment { segment: String },
    #[error("parameter name in `{segment}` is empty")]
    EmptyName { segment: String },
    #[error("parameter name `{name}` is longer than {MAX_PARAMETER_NAME_BYTES} bytes")]
    NameTooLong { name: String },
    #[error("parameter `{name}` appears twice")]
    DuplicateName { name: String },
    #[error("the template has an empty segment (`//`)")]
    EmptySegment,
}

impl PathTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let rest = template.strip_prefix('/').ok_or(TemplateError::MissingLeadingSlash)?;
        let mut segments = Vec::new();
        let mut trailing_slash = false;
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (position, part) in parts.iter().enumerate() {
                if part.is_empty() {
                    if position + 1 == parts.len() {
                        trailing_slash = true;
                        continue;
                    }
                    return Err(TemplateError::EmptySegment);
                }
                segments.push(parse_segment(part)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for segment in &segments {
            if let Segment::Parameter(name) = segment
                && !seen.insert(name.as_str())
            {
                return Err(TemplateError::DuplicateName { name: name.clone() });
            }
        }
        Ok(Self { segments, trailing_slash })
    }

    /// The template with every parameter replaced by `{}`: two templates with the same shape
    /// match exactly the same paths.
    pub fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.segments {
            shape.push('/');
            match segment {
                Segment::Literal(text) => shape.push_str(text),
                Segment::Parameter(_) => shape.push_str("{}"),
            }
        }
        if self.trailing_slash || self.segments.is_empty() {
            shape.push('/');
        }
        shape
    }

    pub fn parameter_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Parameter(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Whether every path this template matches is also matched by `other`.
    pub fn is_covered_by(&self, other: &PathTemplate) -> bool {
        self.segments.len() == other.segments.len()
            && self.trailing_slash == other.trailing_slash
            && self.segments.iter().zip(&other.segments).all(|pair| match pair {
                (_, Segment::Parameter(_)) => true,
                (Segment::Literal(mine), Segment::Literal(theirs)) => mine == theirs,
                (Segment::Parameter(_), Segment::Literal(_)) => false,
            })
    }
}

fn parse_segment(part: &str) -> Result<Segment, TemplateError> {
    if !part.contains(['{', '}']) {
        return Ok(Segment::Literal(part.to_owned()));
    }
    let name = part
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .filter(|name| !name.contains(['{', '}']))
        .ok_or_else(|| TemplateError::PartialSegment { segment: part.to_owned() })?;
    if name.is_empty() {
        return Err(TemplateError::EmptyName { segment: part.to_owned() });
    }
    if name.len() > MAX_PARAMETER_NAME_BYTES {
        return Err(TemplateError::NameTooLong { name: name.to_owned() });
    }
    Ok(Segment::Parameter(name.to_owned()))
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => write!(formatter, "/{text}")?,
                Segment::Parameter(name) => write!(formatter, "/{{{name}}}")?,
            }
        }
        if self.trailing_slash || self.segments.is_empty() {
            formatter.write_str("/")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_of_any_spelling() {
        for name in ["item-id", "file.name", "città", &"p".repeat(40), &"x".repeat(255)] {
            let template = PathTemplate::parse(&format!("/items/{{{name}}}")).unwrap();
            assert_eq!(template.parameter_names().collect::<Vec<_>>(), vec![name]);
        }
    }

    #[test]
    fn shape_ignores_parameter_names() {
        let first = PathTemplate::parse("/example/{id}").unwrap();
        let second = PathTemplate::parse("/example/{exampleId}").unwrap();
        assert_eq!(first.shape(), second.shape());
        assert_eq!(first.shape(), "/example/{}");
    }

    #[test]
    fn rejects_partial_segments() {
        assert!(matches!(PathTemplate::parse("/a/x{id}"), Err(TemplateError::PartialSegment { .. })));
        assert!(matches!(PathTemplate::parse("/a/{}"), Err(TemplateError::EmptyName { .. })));
        assert!(matches!(PathTemplate::parse("a"), Err(TemplateError::MissingLeadingSlash)));
        assert!(matches!(PathTemplate::parse("/a//b"), Err(TemplateError::EmptySegment)));
        assert!(matches!(PathTemplate::parse("/{a}/{a}"), Err(TemplateError::DuplicateName { .. })));
    }

    #[test]
    fn literal_is_covered_by_parameter() {
        let literal = PathTemplate::parse("/user/new").unwrap();
        let parameter = PathTemplate::parse("/user/{id}").unwrap();
        assert!(literal.is_covered_by(&parameter));
        assert!(!parameter.is_covered_by(&literal));
    }

    #[test]
    fn display_round_trips() {
        for text in ["/", "/a/{b}/c", "/a/"] {
            assert_eq!(PathTemplate::parse(text).unwrap().to_string(), text);
        }
    }
}
