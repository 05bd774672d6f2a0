fn main() {
    std::process::exit(affinity_audit::cli::main());
}
