//! Source files and positions inside them.
//!
//! Every value loaded from a spec remembers where it came from, so that diagnostics can point to
//! the file, line and column of the YAML node they are about, even after files from a directory
//! and overlays have been merged into one document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file inside a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// A byte range inside one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub source: SourceId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Self { source, start, end: end.max(start) }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One loaded file: its path as the user named it and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    /// Byte offsets where lines start, built on the first lookup: a run without findings
    /// never needs it.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Self { path: path.into(), text: text.into(), line_starts: std::sync::OnceLock::new() }
    }

    fn line_starts(&self) -> &[usize] {
        // Lines end at LF, CR LF or a lone CR, as YAML and the human report count them.
        self.line_starts.get_or_init(|| {
            let bytes = self.text.as_bytes();
            let mut starts = vec![0];
            for (index, &byte) in bytes.iter().enumerate() {
                if byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n')) {
                    starts.push(index + 1);
                }
            }
            starts
        })
    }

    /// Returns the 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_starts = self.line_starts();
        let line = match line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        };
        let line_start = line_starts[line];
        let column = self.text.get(line_start..offset).map_or(offset - line_start, |prefix| prefix.chars().count());
        (line + 1, column + 1)
    }

    /// Returns the byte offset of a 1-based line and a 0-based column counted in characters.
    pub fn offset_of(&self, line: usize, char_column: usize) -> usize {
        let Some(&line_start) = self.line_starts().get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[line_start..];
        let within = rest.char_indices().nth(char_column).map_or(rest.len(), |(index, _)| index);
        line_start + within
    }
}

/// All files that contributed to one loaded spec.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<Arc<SourceFile>>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, file: SourceFile) -> SourceId {
        self.files.push(Arc::new(file));
        SourceId(u32::try_from(self.files.len() - 1).expect("fewer than 2^32 source files"))
    }

    pub fn get(&self, id: SourceId) -> &Arc<SourceFile> {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (SourceId, &Arc<SourceFile>)> {
        self.files.iter().enumerate().map(|(index, file)| (SourceId(index as u32), file))
    }

    /// Resolves a span to a human position.
    pub fn locate(&self, span: Span) -> Location {
        let file = self.get(span.source);
        let (line, column) = file.line_column(span.start);
        Location { path: file.path.clone(), line, column, span }
    }
}

/// A resolved position: path, 1-based line and column, and the byte span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub span: Span,
}

impl Location {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let file = SourceFile::new("a.yaml", "ab\ncittà: x\n");
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(3), (2, 1));
        let x = file.text.find('x').unwrap();
        assert_eq!(file.line_column(x), (2, 8));
    }

    #[test]
    fn lone_carriage_return_ends_a_line() {
        let file = SourceFile::new("a.yaml", "a: 1\rb: 2\r\nc: 3\nd: 4");
        assert_eq!(file.line_column(5), (2, 1));
        assert_eq!(file.line_column(11), (3, 1));
        assert_eq!(file.line_column(16), (4, 1));
        assert_eq!(file.offset_of(2, 0), 5);
    }

    #[test]
    fn offset_of_inverts_line_column() {
        let file = SourceFile::new("a.yaml", "ab\ncittà: x\n");
        let x = file.text.find('x').unwrap();
        assert_eq!(file.offset_of(2, 7), x);
        assert_eq!(file.offset_of(99, 0), file.text.len());
    }
}
