//! The CSV tables VisA and Sewer-ML ship, read from hostile inputs: BOM and
//! CRLF, quoted fields, upper-case extensions, too few columns, unknown
//! columns and labels, each error naming the file, line and column.

use rwclip_datasets::csv::CsvTable;
use rwclip_datasets::sewer_ml::{self, read_annotations};
use rwclip_datasets::visa::{read_split_csv, VisaSplit};
use rwclip_datasets::DatasetError;

const VISA: &str = "object,split,label,image,mask\n\
candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n\
candle,test,normal,candle/Data/Images/Normal/0836.JPG,\n\
candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n\
pcb1,test,anomaly,pcb1/Data/Images/Anomaly/012.JPG,pcb1/Data/Masks/Anomaly/012.png\n";

#[test]
fn visa_rows_keep_split_label_paths_and_masks() {
    let rows = read_split_csv("visa/split_csv/1cls.csv", VISA.as_bytes()).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].split, VisaSplit::Train);
    let test: Vec<_> = rows.iter().filter(|r| r.split == VisaSplit::Test).map(|r| &r.record).collect();
    assert_eq!(test.iter().map(|r| (r.category.as_str(), r.label)).collect::<Vec<_>>(), [("candle", 0), ("candle", 1), ("pcb1", 1)]);
    assert_eq!(test[0].path, "candle/Data/Images/Normal/0836.JPG", "upper-case extensions are kept as written");
    assert_eq!(test[0].mask, None, "normal rows have no mask");
    assert_eq!(test[1].mask.as_deref(), Some("candle/Data/Masks/Anomaly/000.png"));
}

#[test]
fn a_bom_crlf_and_quoted_fields_read_the_same() {
    let hostile = format!(
        "\u{feff}{}",
        VISA.replace('\n', "\r\n").replace("candle/Data/Images/Normal/0836.JPG", "\"candle/Data/Images/Normal/0836.JPG\"")
    );
    let plain = read_split_csv("a.csv", VISA.as_bytes()).unwrap();
    assert_eq!(read_split_csv("b.csv", hostile.as_bytes()).unwrap(), plain);

    let quoted = CsvTable::parse("q.csv", b"a,b\n\"x, \"\"y\"\"\",\"two\nlines\"\n3,4\n").unwrap();
    assert_eq!(quoted.rows[0].fields, ["x, \"y\"", "two\nlines"]);
    assert_eq!(quoted.rows[1].line, 4, "a row's line counts the line breaks inside quotes before it");
}

fn message(e: DatasetError) -> String {
    e.to_string()
}

#[test]
fn bad_visa_rows_name_file_line_and_column() {
    let few = VISA.replace("pcb1,test,anomaly,pcb1/Data/Images/Anomaly/012.JPG,pcb1/Data/Masks/Anomaly/012.png", "pcb1,test,anomaly");
    let e = message(read_split_csv("v.csv", few.as_bytes()).unwrap_err());
    assert!(e.contains("v.csv, line 5") && e.contains("3 field(s)"), "{e}");

    let label = VISA.replace("candle,test,anomaly", "candle,test,defective");
    let e = message(read_split_csv("v.csv", label.as_bytes()).unwrap_err());
    assert!(e.contains("v.csv, line 4, column label") && e.contains("\"defective\""), "{e}");

    let split = VISA.replace("candle,train,normal", "candle,validation,normal");
    let e = message(read_split_csv("v.csv", split.as_bytes()).unwrap_err());
    assert!(e.contains("line 2, column split"), "{e}");

    let unknown = VISA.replace("object,split,label,image,mask", "object,split,label,image,mask,extra").replace(",\n", ",,\n").replace(".png\n", ".png,\n");
    let e = message(read_split_csv("v.csv", unknown.as_bytes()).unwrap_err());
    assert!(e.contains("column extra") && e.contains("not a known column"), "{e}");

    let missing = "object,split,label,image\ncandle,test,normal,a.JPG\n";
    let e = message(read_split_csv("v.csv", missing.as_bytes()).unwrap_err());
    assert!(e.contains("v.csv has no column \"mask\""), "{e}");

    let escape = VISA.replace("pcb1/Data/Images/Anomaly/012.JPG", "../outside.JPG");
    let e = message(read_split_csv("v.csv", escape.as_bytes()).unwrap_err());
    assert!(e.contains("line 5, column image"), "{e}");

    let open_quote = "object,split,label,image,mask\n\"candle,test,normal,a.JPG,\n";
    let e = message(read_split_csv("v.csv", open_quote.as_bytes()).unwrap_err());
    assert!(e.contains("v.csv, line 2") && e.contains("never closed"), "{e}");

    let e = message(read_split_csv("v.csv", b"").unwrap_err());
    assert!(e.contains("empty"), "{e}");
    let e = message(read_split_csv("v.csv", b"object,split\n\xff\n").unwrap_err());
    assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
}

const SEWER_HEADER: &str = "Filename,WaterLevel,VA,RB,OB,PF,DE,FS,IS,RO,IN,AF,BE,FO,GR,PH,PB,OS,OP,OK,ND,Defect";

fn sewer_row(name: &str, defect: &str) -> String {
    let codes = if defect == "1" { "0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" } else { "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1" };
    format!("{name},5,{codes},{defect}")
}

#[test]
fn sewer_ml_rows_are_labelled_by_defect_and_bad_ones_named() {
    let csv = format!("{SEWER_HEADER}\r\n{}\r\n{}\r\n", sewer_row("00000001.png", "0"), sewer_row("00000002.PNG", "1"));
    let rows = read_annotations(sewer_ml::split_csv("val").unwrap(), csv.as_bytes()).unwrap();
    assert_eq!(rows.iter().map(|r| (r.record.path.as_str(), r.record.label, r.line)).collect::<Vec<_>>(), [("00000001.png", 0, 2), ("00000002.PNG", 1, 3)]);
    assert!(rows.iter().all(|r| r.record.category == sewer_ml::CATEGORY));
    assert_eq!(sewer_ml::split_csv("test"), None, "the test split has no labels");

    let bad = format!("{SEWER_HEADER}\n{}\n", sewer_row("x.png", "yes"));
    let e = message(read_annotations("SewerML_Val.csv", bad.as_bytes()).unwrap_err());
    assert!(e.contains("SewerML_Val.csv, line 2, column Defect") && e.contains("\"yes\""), "{e}");

    let unknown = format!("{SEWER_HEADER},Extra\n{},1\n", sewer_row("x.png", "0"));
    let e = message(read_annotations("SewerML_Val.csv", unknown.as_bytes()).unwrap_err());
    assert!(e.contains("column Extra"), "{e}");

    let path = format!("{SEWER_HEADER}\n{}\n", sewer_row("dir/x.png", "0"));
    let e = message(read_annotations("SewerML_Val.csv", path.as_bytes()).unwrap_err());
    assert!(e.contains("column Filename"), "{e}");
}
