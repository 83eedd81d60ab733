fn main() {
    println!("rwclip: CLI being written");
}
