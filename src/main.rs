//! The `sesame` command: a thin layer over the library's [`sesame::cli`].

fn main() -> std::process::ExitCode {
    sesame::cli::main()
}
