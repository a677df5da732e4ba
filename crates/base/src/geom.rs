//! Geometry in frame pixel coordinates (origin top-left, x right, y down).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }
}

/// Axis-aligned box, corners inclusive-exclusive in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        BBox { x1, y1, x2, y2 }
    }
    pub fn from_cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    pub fn center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }
    /// Where an upright object touches the ground: what zones and lines test,
    /// because a person's feet, not their head, say which zone they stand in.
    pub fn bottom_center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, self.y2)
    }
    pub fn intersection(&self, o: &BBox) -> f32 {
        let w = (self.x2.min(o.x2) - self.x1.max(o.x1)).max(0.0);
        let h = (self.y2.min(o.y2) - self.y1.max(o.y1)).max(0.0);
        w * h
    }
    pub fn iou(&self, o: &BBox) -> f32 {
        let inter = self.intersection(o);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
    pub fn clamp(&self, w: f32, h: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, w),
            self.y1.clamp(0.0, h),
            self.x2.clamp(0.0, w),
            self.y2.clamp(0.0, h),
        )
    }
    pub fn scale(&self, s: f32) -> BBox {
        BBox::new(self.x1 * s, self.y1 * s, self.x2 * s, self.y2 * s)
    }
    /// Grows the box by `frac` of its size on every side.
    pub fn expand(&self, frac: f32) -> BBox {
        let dx = self.width() * frac;
        let dy = self.height() * frac;
        BBox::new(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy)
    }
    pub fn union(&self, o: &BBox) -> BBox {
        BBox::new(
            self.x1.min(o.x1),
            self.y1.min(o.y1),
            self.x2.max(o.x2),
            self.y2.max(o.y2),
        )
    }
    pub fn is_finite(&self) -> bool {
        self.x1.is_finite() && self.y1.is_finite() && self.x2.is_finite() && self.y2.is_finite()
    }
}

/// A simple polygon (no self-intersections expected), vertices in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Polygon(pub Vec<Point>);

impl Polygon {
    /// Even-odd ray casting, with points on (within half a pixel of) an edge
    /// counted as inside. Why the edge matters: a zone drawn to the frame's
    /// edge has its border exactly where the boxes of people cut off by the
    /// frame end (clamped to it), so their bottom centre lies on the border;
    /// ray casting alone drops the whole bottom edge, and with it every
    /// person standing closer than the frame shows.
    pub fn contains(&self, p: Point) -> bool {
        let v = &self.0;
        if v.len() < 3 {
            return false;
        }
        let mut inside = false;
        let mut j = v.len() - 1;
        for i in 0..v.len() {
            let (a, b) = (v[i], v[j]);
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
            j = i;
        }
        // The edge test only for what ray casting left outside: most points
        // tested (pixels of a region, people in a zone) are decided above.
        inside || self.on_boundary(p, 0.5)
    }
    /// Whether `p` lies within `tol` of an edge.
    fn on_boundary(&self, p: Point, tol: f32) -> bool {
        let v = &self.0;
        (0..v.len()).any(|i| {
            let (a, b) = (v[i], v[(i + 1) % v.len()]);
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (cx, cy) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
            cx * cx + cy * cy <= tol * tol
        })
    }
    /// Shoelace area in square pixels (absolute).
    pub fn area(&self) -> f32 {
        let v = &self.0;
        if v.len() < 3 {
            return 0.0;
        }
        let mut s = 0.0;
        for i in 0..v.len() {
            let (a, b) = (v[i], v[(i + 1) % v.len()]);
            s += a.x * b.y - b.x * a.y;
        }
        (s / 2.0).abs()
    }
    pub fn bbox(&self) -> BBox {
        let mut b = BBox::new(f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in &self.0 {
            b.x1 = b.x1.min(p.x);
            b.y1 = b.y1.min(p.y);
            b.x2 = b.x2.max(p.x);
            b.y2 = b.y2.max(p.y);
        }
        b
    }
    /// Maps normalised (0..1) vertices to pixels of a `w`×`h` frame.
    pub fn to_pixels(&self, w: f32, h: f32) -> Polygon {
        Polygon(
            self.0
                .iter()
                .map(|p| Point::new(p.x * w, p.y * h))
                .collect(),
        )
    }
}

/// Which side of the directed line a→b the point p lies on: >0 left, <0 right
/// (in image coordinates with y down, "left" is counter-clockwise on screen).
pub fn side(a: Point, b: Point, p: Point) -> f32 {
    (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)
}

/// Whether segments p1-p2 and q1-q2 properly intersect.
pub fn segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = side(q1, q2, p1);
    let d2 = side(q1, q2, p2);
    let d3 = side(p1, p2, q1);
    let d4 = side(p1, p2, q2);
    ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_basics() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn polygon_contains_concave() {
        // An L shape: the notch at top-right is outside.
        let l = Polygon(vec![
            Point::new(0.0, 0.0),
            Point::new(5.0, 0.0),
            Point::new(5.0, 5.0),
            Point::new(10.0, 5.0),
            Point::new(10.0, 10.0),
            Point::new(0.0, 10.0),
        ]);
        assert!(l.contains(Point::new(2.0, 2.0)));
        assert!(l.contains(Point::new(8.0, 8.0)));
        assert!(!l.contains(Point::new(8.0, 2.0)));
        assert_eq!(l.area(), 75.0);
    }

    #[test]
    fn polygon_edges_count_as_inside() {
        // A whole-frame zone of a 640×480 frame: a person cut off by the
        // frame has the bottom centre of its clamped box on the bottom edge.
        let frame = Polygon(vec![
            Point::new(0.0, 0.0),
            Point::new(640.0, 0.0),
            Point::new(640.0, 480.0),
            Point::new(0.0, 480.0),
        ]);
        assert!(frame.contains(Point::new(320.0, 480.0)));
        assert!(frame.contains(Point::new(640.0, 200.0)));
        assert!(frame.contains(Point::new(0.0, 0.0)));
        assert!(!frame.contains(Point::new(320.0, 481.0)));
        assert!(!frame.contains(Point::new(-1.0, 200.0)));
    }

    #[test]
    fn segment_crossing() {
        let (a, b) = (Point::new(0.0, 5.0), Point::new(10.0, 5.0));
        assert!(segments_intersect(
            Point::new(5.0, 0.0),
            Point::new(5.0, 10.0),
            a,
            b
        ));
        assert!(!segments_intersect(
            Point::new(5.0, 0.0),
            Point::new(5.0, 4.0),
            a,
            b
        ));
    }
}
