//! The enrollment QR code as an SVG document the page inlines: one path of unit squares, a
//! quiet zone of four modules (ISO/IEC 18004), no script, no external reference.

use qrcodegen::{QrCode, QrCodeEcc};

const QUIET_ZONE: i32 = 4;

/// `text` as a QR code in SVG. Medium error correction: enough for a phone camera aimed at a
/// screen, small enough for an `otpauth://` URI with long names.
pub fn svg(text: &str) -> Result<String, String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| e.to_string())?;
    let size = qr.size();
    let full = size + 2 * QUIET_ZONE;
    let mut path = String::with_capacity((size * size) as usize * 8);
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE));
            }
        }
    }
    Ok(format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {full}" "##,
            r##"width="240" height="240" shape-rendering="crispEdges" role="img" "##,
            r##"aria-label="QR code for your authenticator app">"##,
            r##"<rect width="100%" height="100%" fill="#fff"/>"##,
            r##"<path d="{path}" fill="#000"/></svg>"##
        ),
        full = full,
        path = path
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the squares back out of the SVG, draws them at 4 pixels a module and decodes the
    /// picture with an independent QR reader: what a phone would read.
    fn decode(svg: &str) -> String {
        let view = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
        let full: usize = view.split(' ').next().unwrap().parse().unwrap();
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let scale = 4;
        let px = full * scale;
        let mut grid = vec![false; full * full];
        for square in path.split('M').filter(|s| !s.is_empty()) {
            let (x, rest) = square.split_once(',').unwrap();
            let y = rest.split('h').next().unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            grid[y * full + x] = true;
        }
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(px, px, |x, y| {
            if grid[(y / scale) * full + x / scale] {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the picture");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_svg_decodes_to_the_uri() {
        let uri = "otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme";
        let svg = svg(uri).unwrap();
        assert!(!svg.contains("<script") && !svg.contains("href"));
        assert_eq!(decode(&svg), uri);
    }
}
