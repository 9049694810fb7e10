//! PNG text drawn with ab_glyph directly. plotters 0.3.7 draws each glyph at its advance origin
//! and ignores its left side bearing, so letters drift unevenly ("Pu sh er"); this backend wraps
//! the bitmap one and places every glyph at its outline's own bounds, kerned. Everything else is
//! the bitmap backend's.

use super::style::{DEJAVU_SANS, DEJAVU_SANS_BOLD};
use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontStyle,
};

/// A bitmap backend whose text is laid out glyph by glyph from the embedded font.
pub(crate) struct EmbeddedTextBitmap<'a> {
    inner: BitMapBackend<'a>,
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("the embedded font cannot be read")]
pub(crate) struct InvalidEmbeddedFont;

impl<'a> EmbeddedTextBitmap<'a> {
    pub(crate) fn new(inner: BitMapBackend<'a>) -> Result<Self, InvalidEmbeddedFont> {
        Ok(EmbeddedTextBitmap {
            inner,
            regular: FontRef::try_from_slice(DEJAVU_SANS).map_err(|_| InvalidEmbeddedFont)?,
            bold: FontRef::try_from_slice(DEJAVU_SANS_BOLD).map_err(|_| InvalidEmbeddedFont)?,
        })
    }

    fn font<S: BackendTextStyle>(&self, style: &S) -> &FontRef<'static> {
        match style.style() {
            FontStyle::Bold => &self.bold,
            _ => &self.regular,
        }
    }

    /// Each glyph with its pen position, and the text's (width, height) in pixels.
    fn layout<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> (Vec<(GlyphId, f32)>, f32, f32) {
        let font = self
            .font(style)
            .as_scaled(PxScale::from(style.size() as f32));
        let mut caret = 0.0;
        let mut previous: Option<GlyphId> = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                caret += font.kern(previous, id);
            }
            glyphs.push((id, caret));
            caret += font.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret, font.ascent() - font.descent())
    }
}

impl DrawingBackend for EmbeddedTextBitmap<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (_, width, height) = self.layout(text, style);
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, width, height) = self.layout(text, style);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let scale = PxScale::from(style.size() as f32);
        let font = self.font(style).clone();
        let ascent = font.as_scaled(scale).ascent();
        let (canvas_width, canvas_height) = self.get_size();
        let mut pixels: Vec<(BackendCoord, f32)> = Vec::new();
        for (id, x) in glyphs {
            let glyph = id.with_scale_and_position(scale, point(x + dx, ascent + dy));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|x, y, coverage| {
                let (gx, gy) = (
                    bounds.min.x as i32 + x as i32,
                    bounds.min.y as i32 + y as i32,
                );
                let (tx, ty) = transform.transform(gx, gy);
                pixels.push(((pos.0 + tx, pos.1 + ty), coverage));
            });
        }
        for ((x, y), coverage) in pixels {
            let inside = x >= 0 && y >= 0 && x < canvas_width as i32 && y < canvas_height as i32;
            if inside && coverage > 0.0 {
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * f64::from(coverage.min(1.0)),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::style::text;
    use plotters::style::text_anchor::Pos;

    /// The inked pixels' bounding box (x0, y0, x1, y1) after drawing `label` at `at`.
    fn inked(label: &str, at: (i32, i32), anchor: Pos) -> (i32, i32, i32, i32, (u32, u32)) {
        let (width, height) = (300u32, 80u32);
        let mut rgb = vec![255u8; (width * height * 3) as usize];
        let size;
        {
            let mut backend =
                EmbeddedTextBitmap::new(BitMapBackend::with_buffer(&mut rgb, (width, height)))
                    .unwrap();
            let style = text(20).pos(anchor);
            size = backend.estimate_text_size(label, &style).unwrap();
            backend.draw_text(label, &style, at).unwrap();
            backend.present().unwrap();
        }
        let mut bounds = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for (i, px) in rgb.chunks(3).enumerate() {
            if px.iter().any(|&c| c < 200) {
                let (x, y) = ((i as u32 % width) as i32, (i as u32 / width) as i32);
                bounds = (
                    bounds.0.min(x),
                    bounds.1.min(y),
                    bounds.2.max(x),
                    bounds.3.max(y),
                );
            }
        }
        (bounds.0, bounds.1, bounds.2, bounds.3, size)
    }

    #[test]
    fn text_is_drawn_inside_the_box_its_anchor_and_size_say() {
        let (x0, y0, x1, y1, (w, h)) =
            inked("PortPusher", (20, 10), Pos::new(HPos::Left, VPos::Top));
        assert!((20..=23).contains(&x0), "starts at the anchor: {x0}");
        assert!(
            x1 <= 20 + w as i32 && x1 >= 20 + w as i32 - 4,
            "ends at its width: {x1}"
        );
        assert!(
            y0 >= 10 && y1 <= 10 + h as i32,
            "within its height: {y0}..{y1}"
        );

        let (_, _, x1, _, _) = inked("PortPusher", (280, 10), Pos::new(HPos::Right, VPos::Top));
        assert!(
            (276..=280).contains(&x1),
            "right-anchored text ends at the anchor: {x1}"
        );
        assert_eq!(
            inked("", (20, 10), Pos::new(HPos::Left, VPos::Top)).0,
            i32::MAX
        );
    }
}
