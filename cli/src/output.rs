//! Standard output for command results, and standard error for messages. A reader that stops
//! early (`gatectl import ... | head`) closes the pipe; the command then ends quietly with exit
//! code 0 instead of failing on the write, as other Unix tools do. Messages to a closed standard
//! error are dropped instead: a command that is changing runtimes must run to its end or to a
//! safe stop, whether or not anyone still reads its messages.

use std::io::Write;

/// Writes formatted text to standard output.
pub fn write(arguments: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(arguments).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        write_error(format_args!("error: cannot write to standard output: {error}\n"));
        std::process::exit(2);
    }
}

/// Like `print!`, through [`write`].
macro_rules! out {
    ($($argument:tt)*) => {
        $crate::output::write(format_args!($($argument)*))
    };
}

/// Like `println!`, through [`write`].
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($argument)*)))
    };
}

/// Writes formatted text to standard error, dropping it when standard error cannot be written.
pub fn write_error(arguments: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(arguments).and_then(|()| stderr.flush());
}

/// Like `eprint!`, through [`write_error`].
macro_rules! err {
    ($($argument:tt)*) => {
        $crate::output::write_error(format_args!($($argument)*))
    };
}

/// Like `eprintln!`, through [`write_error`].
macro_rules! errln {
    () => {
        $crate::output::write_error(format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::output::write_error(format_args!("{}\n", format_args!($($argument)*)))
    };
}
