//! A chart whose one template is the input, rendered as `helm template` renders it: Helm's
//! functions (`include`, `tpl`, `toYaml`, `fromToml`, ...), `.Files` as a map, `.Values`, and the
//! manifest splitting and sorting after. Errors are fine, panics are not.
#![no_main]

use ferry_helm::chart::File;

fn file(name: &str, data: &str) -> File {
    File { name: name.to_string(), data: data.as_bytes().to_vec() }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Functions whose cost grows with their arguments (repeat, until, seq, a range over a large
    // number) or that are slow by design (key generation, password hashing) would only find
    // slowness; execution of the rest must still not panic.
    let slow = ["repeat", "until", "seq", "gen", "bcrypt", "htpasswd", "derivePassword"];
    let big_number = text.as_bytes().windows(4).any(|w| w.iter().all(u8::is_ascii_digit));
    if slow.iter().any(|f| text.contains(f)) || (text.contains("range") && big_number) {
        return;
    }
    let files = vec![
        file("Chart.yaml", "apiVersion: v2\nname: fuzz\nversion: 0.1.0\n"),
        file("values.yaml", "a:\n  b: [1, two, null, 3.5]\n  c: {d: true}\ns: text\nn: 100\n"),
        file("templates/_helpers.tpl", "{{ define \"h\" }}{{ .Values.s }}{{ end }}"),
        file("templates/t.yaml", text),
        file("files/a.txt", "hello\n"),
        file("files/b.toml", "k = 1\n[t]\nx = \"y\"\n"),
    ];
    let Ok(chart) = ferry_helm::chart::load::load_files(files) else { return };
    let _ = ferry_helm::template::template(chart, &Default::default(), &Default::default());
});
