//! The walker's budget, seen from a sink that only counts: hard links and
//! symlinks are charged before the sink sees them.

use std::io::Read;
use std::path::Path;

use ferry_archive::{Error, Limits, Sink, walk};

/// Counts what it is handed; keeps nothing.
#[derive(Default)]
struct Count {
    files: usize,
    links: usize,
}

impl Sink for Count {
    type Error = Error;
    fn dir(&mut self, _: &Path, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn file(&mut self, _: &Path, _: &str, body: &mut dyn Read, _: u32) -> Result<u64, Error> {
        self.files += 1;
        Ok(std::io::copy(body, &mut std::io::sink()).unwrap())
    }
    fn symlink(&mut self, _: &Path, _: &str, _: &str) -> Result<(), Error> {
        self.links += 1;
        Ok(())
    }
    fn linked_size(&mut self, _: &Path, _: &str, _: &str) -> Result<u64, Error> {
        Ok(1000)
    }
    fn hard_link(&mut self, _: &Path, _: &str, _: &Path) -> Result<(), Error> {
        self.links += 1;
        Ok(())
    }
}

fn archive(links: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut header = tar::Header::new_gnu();
    header.set_size(1000);
    header.set_mode(0o644);
    builder.append_data(&mut header, "big", &[0u8; 1000][..]).unwrap();
    for i in 0..links {
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        builder.append_link(&mut link, format!("copy{i}"), "big").unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hard_links_are_charged_before_the_sink_copies_them() {
    let mut count = Count::default();
    let stats = walk(archive(3).as_slice(), Limits { max_size: 4000, max_files: 10 }, &mut count).unwrap();
    assert_eq!((stats.files, stats.bytes, count.links), (4, 4000, 3));

    let mut count = Count::default();
    let error = walk(archive(4).as_slice(), Limits { max_size: 4000, max_files: 10 }, &mut count).unwrap_err();
    assert!(matches!(error, Error::SizeLimitExceeded(4000)), "{error}");
    assert_eq!(count.links, 3, "the fourth copy was refused before the sink saw it");
}

#[test]
fn every_entry_counts_against_the_entry_limit() {
    let error =
        walk(archive(20).as_slice(), Limits { max_size: u64::MAX, max_files: 5 }, &mut Count::default()).unwrap_err();
    assert!(matches!(error, Error::FileLimitExceeded(5)), "{error}");
}
