//! Path parameters of template routes: their names for the access log, and request headers
//! whose values take them (`${path.NAME}`, see `gatectl_spec::header_template`).

use std::sync::Arc;

use gatectl_spec::header_template::{ValuePart, has_parameters, parts};
use gatectl_spec::model::{HeaderChanges, PathMatch, Route};
use gatectl_spec::path_template::{PathTemplate, Segment};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::CompileError;

/// Returns a route's path parameters: each name with the position of its segment in the matched
/// path.
pub fn parameters(route: &Route) -> Vec<(usize, Arc<str>)> {
    let PathMatch::Template(text) = &route.matcher.path else { return Vec::new() };
    let Ok(template) = PathTemplate::parse(text) else { return Vec::new() };
    template
        .segments
        .iter()
        .enumerate()
        .filter_map(|(position, segment)| match segment {
            Segment::Parameter(name) => Some((position, Arc::from(name.as_str()))),
            Segment::Literal(_) => None,
        })
        .collect()
}

/// A request header whose value is built from text and path parameters for each request.
#[derive(Debug)]
pub struct HeaderTemplate {
    name: HeaderName,
    parts: Vec<TemplatePart>,
    /// Appended (`add`) rather than replacing (`set`).
    append: bool,
}

#[derive(Debug)]
enum TemplatePart {
    Text(String),
    /// The matched path's segment at this position.
    Segment(usize),
}

impl HeaderTemplate {
    /// Compiles the `set` and `add` entries of `changes` that hold placeholders, in that order.
    pub fn compile_all(changes: &HeaderChanges, route: &Route, parameters: &[(usize, Arc<str>)]) -> Result<Vec<Self>, CompileError> {
        let mut templates = Vec::new();
        for (map, append) in [(&changes.set, false), (&changes.add, true)] {
            for (header, value) in map.iter().filter(|(_, value)| has_parameters(value)) {
                let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| CompileError::Header {
                    field: format!("routes[{}].requestHeaders", route.name),
                    value: header.clone(),
                    part: "name",
                })?;
                let parts = parts(value)
                    .into_iter()
                    .map(|part| match part {
                        ValuePart::Text(text) => Ok(TemplatePart::Text(text.to_owned())),
                        ValuePart::Parameter(wanted) => parameters
                            .iter()
                            .find(|(_, name)| &**name == wanted)
                            .map(|(position, _)| TemplatePart::Segment(*position))
                            .ok_or_else(|| CompileError::UnknownPathParameter { route: route.name.clone(), name: wanted.to_owned() }),
                    })
                    .collect::<Result<_, _>>()?;
                templates.push(Self { name, parts, append });
            }
        }
        Ok(templates)
    }

    /// Sets or adds the header, with `segments` the path segments the route matched.
    pub fn apply(&self, headers: &mut HeaderMap, segments: &[&str]) {
        let mut value = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(text) => value.push_str(text),
                TemplatePart::Segment(position) => value.push_str(segments.get(*position).copied().unwrap_or_default()),
            }
        }
        // Normalised path segments are printable ASCII, so the value is always a valid header.
        let Ok(value) = HeaderValue::from_str(&value) else { return };
        if self.append {
            headers.append(self.name.clone(), value);
        } else {
            headers.insert(self.name.clone(), value);
        }
    }
}
