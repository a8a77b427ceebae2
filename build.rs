// refinery's embed_migrations! reads migrations/ (and knowledge's, kept apart) at compile
// time; without this, a new migration file would not trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-knowledge");
}
