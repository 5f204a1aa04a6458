use super::*;

#[test]
fn dump() {
    for i in [
        "0", "1", "2", "64", "78", "126", "127", "128", "130", "137", "139", "143", "255", "-1",
        "300", "256", "-256", "SIGKILL", "9", "148", "145", "160", "200", "125", "3", "sig9",
    ] {
        println!("=== {i}\n{}", render_text(&explain(i).unwrap()));
    }
    for i in [
        "",
        "abc",
        "SIG0",
        "SIG99",
        "99999999999999999999",
        "1.5",
        "\x1b[31m",
    ] {
        println!("ERR {i:?}: {}", explain(i).unwrap_err());
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&explain("SIGKILL").unwrap()).unwrap()
    );
}
