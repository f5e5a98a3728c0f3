//! The rendering contract: charts and maps are well-formed SVG made only of plain drawing
//! elements (whatever the labels say), deterministic, and small. Example images are written to
//! `test-artifacts/render/` for a human to look at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// One module named like the file, so `cargo test -p gatehouse-core render` selects these tests
// together with the unit tests of `render/`.
mod render {
    use std::path::PathBuf;

    use gatehouse_core::detect::Severity;
    use gatehouse_core::render::{
        Band, MIN_MAP_SIZE, MIN_RATE_SIZE, MapLeg, MapPoint, MapSpec, Marker, MarkerKind, RateSeries,
        RenderError, Size, Theme, map_svg, rate_chart_svg, sparkline_svg,
    };

    const MINUTE: i64 = 60_000;
    /// 2024-03-05T00:00:00Z
    const DAY_START: i64 = 1_709_596_800_000;
    const CHART: Size = Size::new(900, 320);
    const MAP: Size = Size::new(900, 450);

    const HOSTILE: [&str; 10] = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "]]>",
        "&amp;",
        "'; onload='alert(1)",
        "bell\u{7}null\u{0}esc\u{1b}del\u{7f}c1\u{9b}",
        "\u{202E}gnp.exe",
        "<svg/onload=alert(1)><foreignObject><a xlink:href=javascript:alert(1)>x</a>",
        "<![CDATA[x]]><!-- -->",
        "non\u{FFFE}char\u{FFFF}acters\u{FEFF}",
    ];

    /// Parses `svg` strictly and checks it holds nothing but plain drawing elements.
    fn check_svg(svg: &str) -> roxmltree::Document<'_> {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}"));
        const ALLOWED: [&str; 7] = ["svg", "rect", "line", "polyline", "polygon", "circle", "text"];
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
        for node in doc.descendants() {
            assert!(!node.is_pi(), "processing instruction in output");
            if !node.is_element() {
                continue;
            }
            let name = node.tag_name().name();
            assert!(ALLOWED.contains(&name), "unexpected element <{name}>");
            for attr in node.attributes() {
                let attr_name = attr.name().to_ascii_lowercase();
                assert!(
                    !attr_name.starts_with("on"),
                    "event handler attribute {attr_name}"
                );
                assert!(
                    !["href", "style", "src"].contains(&attr_name.as_str()),
                    "attribute {attr_name}"
                );
                assert!(attr.namespace().is_none(), "namespaced attribute {attr_name}");
                assert!(
                    !attr.value().to_ascii_lowercase().contains("javascript:"),
                    "{attr_name}={}",
                    attr.value()
                );
            }
            if name == "text" {
                let text = node.text().unwrap_or_default();
                assert!(
                    !text
                        .chars()
                        .any(|c| (c.is_control() && c != '\n') || ('\u{202A}'..='\u{202E}').contains(&c)),
                    "control or bidi character in {text:?}"
                );
            }
        }
        let lower = svg.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "script element");
        assert!(!lower.contains("<!"), "CDATA, comment or doctype");
        doc
    }

    fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
            .collect()
    }

    /// Markers are the only 2-pixel lines on a rate chart.
    fn marker_lines(doc: &roxmltree::Document<'_>) -> usize {
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
            .count()
    }

    fn artifact(name: &str, svg: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts/render");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), svg).unwrap();
    }

    /// A working day for one user: quiet nights, a busy day, and a burst of refused replays at 14:00.
    fn day_series() -> RateSeries {
        let counts: Vec<u32> = (0..1440)
            .map(|m| {
                let hour = m / 60;
                let base = if (8..18).contains(&hour) {
                    20 + (m % 7) * 3
                } else {
                    m % 3
                };
                if (840..880).contains(&m) { base + 180 } else { base }
            })
            .collect();
        let denied = (0..1440)
            .map(|m| {
                if (845..870).contains(&m) {
                    90
                } else {
                    u32::from(m % 97 == 0)
                }
            })
            .collect();
        let low = (0..1440)
            .map(|m| if (8 * 60..18 * 60).contains(&m) { 12.0 } else { 0.0 })
            .collect();
        let high = (0..1440)
            .map(|m| if (8 * 60..18 * 60).contains(&m) { 45.0 } else { 4.0 })
            .collect();
        RateSeries {
            start_ms: DAY_START,
            bucket_ms: MINUTE,
            counts,
            denied,
            baseline: Some(Band { low, high }),
            markers: vec![
                Marker {
                    at_ms: DAY_START + 840 * MINUTE,
                    kind: MarkerKind::Finding,
                    severity: Some(Severity::High),
                    label: "impossible travel Berlin → Lagos".into(),
                },
                Marker {
                    at_ms: DAY_START + 850 * MINUTE,
                    kind: MarkerKind::Finding,
                    severity: Some(Severity::Critical),
                    label: "revoked token used".into(),
                },
                Marker {
                    at_ms: DAY_START + 905 * MINUTE,
                    kind: MarkerKind::Action,
                    severity: None,
                    label: "sessions revoked by analyst".into(),
                },
            ],
            title: "alice@example.com · requests per minute".into(),
        }
    }

    fn europe_africa() -> MapSpec {
        MapSpec {
            points: vec![
                MapPoint {
                    lat: 52.52,
                    lon: 13.40,
                    accuracy_km: Some(20.0),
                    label: "Berlin".into(),
                    severity: None,
                    count: 412,
                },
                MapPoint {
                    lat: 6.45,
                    lon: 3.39,
                    accuracy_km: Some(250.0),
                    label: "Lagos".into(),
                    severity: Some(Severity::High),
                    count: 37,
                },
            ],
            legs: vec![MapLeg {
                from: 0,
                to: 1,
                km: 5_150.0,
                kmh: Some(10_300.0),
                severity: Some(Severity::High),
            }],
            title: "alice@example.com · session 7f3c".into(),
            attribution: Some("IP geolocation by DB-IP".into()),
        }
    }

    fn pacific() -> MapSpec {
        MapSpec {
            points: vec![
                MapPoint {
                    lat: 35.68,
                    lon: 139.69,
                    accuracy_km: Some(50.0),
                    label: "Tokyo".into(),
                    severity: None,
                    count: 120,
                },
                MapPoint {
                    lat: 21.31,
                    lon: -157.86,
                    accuracy_km: Some(500.0),
                    label: "Honolulu".into(),
                    severity: Some(Severity::Critical),
                    count: 4,
                },
            ],
            legs: vec![MapLeg {
                from: 0,
                to: 1,
                km: 6_200.0,
                kmh: Some(8_950.0),
                severity: Some(Severity::Critical),
            }],
            title: "bob · antimeridian".into(),
            attribution: Some("IP geolocation by DB-IP".into()),
        }
    }

    #[test]
    fn rate_chart_of_a_day_is_well_formed_small_and_marked() {
        let series = day_series();
        for (theme, name) in [
            (Theme::Dark, "rate-day-dark.svg"),
            (Theme::Light, "rate-day-light.svg"),
        ] {
            let svg = rate_chart_svg(&series, CHART, theme).unwrap();
            let doc = check_svg(&svg);
            assert!(svg.len() < 200_000, "{} bytes", svg.len());
            assert_eq!(marker_lines(&doc), series.markers.len());
            let texts = texts(&doc);
            assert!(texts.contains(&series.title), "title missing from {texts:?}");
            assert!(texts.iter().any(|t| t == "revoked token used"));
            assert!(texts.iter().any(|t| t == "12:00"), "hour ticks: {texts:?}");
            assert!(
                texts.iter().any(|t| t == "Mar 06"),
                "the closing midnight is dated: {texts:?}"
            );
            assert!(
                texts.iter().any(|t| t == "requests per 5 min"),
                "1440 minutes are drawn as 288 buckets"
            );
            assert!(texts.iter().any(|t| t == "UTC · 2024-03-05"));
            artifact(name, &svg);
        }
    }

    #[test]
    fn markers_outside_the_window_are_left_out() {
        let mut series = day_series();
        series.markers[0].at_ms = DAY_START - MINUTE;
        let svg = rate_chart_svg(&series, CHART, Theme::Dark).unwrap();
        assert_eq!(marker_lines(&check_svg(&svg)), 2);
    }

    #[test]
    fn an_empty_series_says_so() {
        let series = RateSeries {
            start_ms: DAY_START,
            bucket_ms: MINUTE,
            counts: Vec::new(),
            denied: Vec::new(),
            baseline: None,
            markers: Vec::new(),
            title: "carol".into(),
        };
        let svg = rate_chart_svg(&series, CHART, Theme::Light).unwrap();
        let doc = check_svg(&svg);
        assert!(texts(&doc).iter().any(|t| t == "No activity in this window"));
        artifact("rate-empty.svg", &svg);

        let zeros = RateSeries {
            counts: vec![0; 60],
            ..series
        };
        let doc_svg = rate_chart_svg(&zeros, CHART, Theme::Light).unwrap();
        assert!(
            texts(&check_svg(&doc_svg))
                .iter()
                .any(|t| t == "No activity in this window")
        );
    }

    #[test]
    fn a_single_bucket_and_huge_counts_render() {
        let single = RateSeries {
            start_ms: DAY_START + 13 * 60 * MINUTE,
            bucket_ms: MINUTE,
            counts: vec![7],
            denied: vec![2],
            baseline: Some(Band {
                low: vec![1.0],
                high: vec![3.0],
            }),
            markers: Vec::new(),
            title: String::new(),
        };
        check_svg(&rate_chart_svg(&single, CHART, Theme::Dark).unwrap());

        let huge = RateSeries {
            counts: vec![u32::MAX; 1440],
            denied: Vec::new(),
            baseline: None,
            ..day_series()
        };
        let svg = rate_chart_svg(&huge, CHART, Theme::Dark).unwrap();
        let doc = check_svg(&svg);
        // Five minutes summed per bucket: about 21 billion, labelled compactly.
        assert!(texts(&doc).iter().any(|t| t.ends_with('G')), "{:?}", texts(&doc));
    }

    #[test]
    fn a_month_of_minutes_stays_small() {
        let counts: Vec<u32> = (0..30 * 1440).map(|m| (m % 50) as u32).collect();
        let series = RateSeries {
            counts,
            denied: Vec::new(),
            baseline: None,
            ..day_series()
        };
        let svg = rate_chart_svg(&series, CHART, Theme::Light).unwrap();
        let doc = check_svg(&svg);
        assert!(svg.len() < 100_000, "{} bytes", svg.len());
        assert_eq!(marker_lines(&doc), 3);
        assert!(
            texts(&doc).iter().any(|t| t == "UTC · 2024-03-05 – 2024-04-03"),
            "{:?}",
            texts(&doc)
        );
        artifact("rate-month.svg", &svg);
    }

    #[test]
    fn bad_input_is_refused_with_a_clear_message() {
        let err = rate_chart_svg(&day_series(), Size::new(100, 50), Theme::Dark).unwrap_err();
        assert!(matches!(err, RenderError::SizeTooSmall { .. }));
        assert_eq!(
            err.to_string(),
            "a 100×50 image is too small for this chart; it needs at least 240×150"
        );
        assert_eq!(err.kind(), gatehouse_core::ErrorKind::Validation);

        let mut series = day_series();
        series.baseline = Some(Band {
            low: vec![0.0; 10],
            high: vec![1.0; 1440],
        });
        let err = rate_chart_svg(&series, CHART, Theme::Dark).unwrap_err();
        assert_eq!(err.to_string(), "baseline.low has 10 buckets but counts has 1440");

        let mut map = europe_africa();
        map.legs[0].to = 5;
        let err = map_svg(&map, MAP, Theme::Dark).unwrap_err();
        assert_eq!(
            err.to_string(),
            "leg 0 goes from point 0 to point 5, but there are 2 points"
        );

        let mut map = europe_africa();
        map.points[1].lat = 91.0;
        assert!(matches!(
            map_svg(&map, MAP, Theme::Dark),
            Err(RenderError::Position { index: 1, .. })
        ));
        assert!(matches!(
            map_svg(&europe_africa(), Size::new(9000, 400), Theme::Dark),
            Err(RenderError::SizeTooLarge { .. })
        ));
    }

    #[test]
    fn hostile_labels_stay_text() {
        let long = "A".repeat(10_000);
        let mut labels: Vec<&str> = HOSTILE.to_vec();
        labels.push(&long);

        let mut series = day_series();
        series.title = labels.join(" ");
        series.markers = labels
            .iter()
            .enumerate()
            .map(|(i, label)| Marker {
                at_ms: DAY_START + (i as i64 + 1) * 90 * MINUTE,
                kind: if i % 2 == 0 {
                    MarkerKind::Finding
                } else {
                    MarkerKind::Action
                },
                severity: Some(Severity::Medium),
                label: (*label).to_owned(),
            })
            .collect();
        let chart = rate_chart_svg(&series, CHART, Theme::Dark).unwrap();
        let doc = check_svg(&chart);
        assert_eq!(marker_lines(&doc), labels.len());
        let chart_texts = texts(&doc);
        // Escaped on the way out, read back as the very same characters.
        assert!(
            chart_texts.iter().any(|t| t == "<script>alert(1)</script>"),
            "{chart_texts:?}"
        );
        assert!(chart_texts.iter().any(|t| t == "&amp;"));
        assert!(chart_texts.iter().any(|t| t == "]]>"));
        assert!(
            chart_texts.iter().any(|t| t == "gnp.exe"),
            "bidi override removed"
        );
        assert!(
            chart_texts.iter().any(|t| t == "bellnullescdelc1"),
            "controls removed"
        );
        assert!(
            chart_texts.iter().any(|t| t == "noncharacters"),
            "XML non-characters removed"
        );
        assert!(
            chart_texts.iter().all(|t| t.chars().count() <= 96),
            "long labels are cut"
        );
        assert!(
            chart_texts
                .iter()
                .any(|t| t.starts_with("AAAA") && t.ends_with('…'))
        );
        artifact("rate-hostile.svg", &chart);

        let points: Vec<MapPoint> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| MapPoint {
                lat: -40.0 + 8.0 * i as f64,
                lon: -30.0 + 12.0 * i as f64,
                accuracy_km: Some(100.0),
                label: (*label).to_owned(),
                severity: Some(Severity::Low),
                count: 2,
            })
            .collect();
        let spec = MapSpec {
            legs: vec![MapLeg {
                from: 0,
                to: 1,
                km: 1.0,
                kmh: None,
                severity: None,
            }],
            points,
            title: HOSTILE.join(""),
            attribution: Some(HOSTILE.join(" ")),
        };
        let map = map_svg(&spec, MAP, Theme::Light).unwrap();
        let doc = check_svg(&map);
        assert!(
            texts(&doc)
                .iter()
                .any(|t| t.starts_with("<script>alert(1)</script>"))
        );
        assert!(
            texts(&doc).iter().any(|t| t.ends_with("Map: Natural Earth")),
            "credit survives a hostile attribution"
        );
        artifact("map-hostile.svg", &map);

        for counts in [&[][..], &[1, 2, 3]] {
            check_svg(&sparkline_svg(counts, Size::new(120, 24), Theme::Dark));
        }
    }

    #[test]
    fn the_smallest_sizes_still_render() {
        let mut series = day_series();
        series.title = HOSTILE.join(" ");
        let chart = rate_chart_svg(&series, MIN_RATE_SIZE, Theme::Dark).unwrap();
        check_svg(&chart);
        artifact("rate-smallest.svg", &chart);
        let mut spec = europe_africa();
        spec.title = HOSTILE.join(" ");
        let svg = map_svg(&spec, MIN_MAP_SIZE, Theme::Light).unwrap();
        artifact("map-smallest.svg", &svg);
        let texts = texts(&check_svg(&svg));
        // Too narrow for one line of credits: the source is shortened, Natural Earth kept.
        assert!(texts.iter().any(|t| t.starts_with("IP geolocation")), "{texts:?}");
        assert!(texts.iter().any(|t| t == "Map: Natural Earth"), "{texts:?}");
    }

    #[test]
    fn inputs_read_camel_case_json_with_optional_parts() {
        let series: RateSeries =
            serde_json::from_str(r#"{"startMs": 0, "bucketMs": 60000, "counts": [1, 2]}"#).unwrap();
        assert!(series.denied.is_empty() && series.baseline.is_none() && series.markers.is_empty());
        let spec: MapSpec = serde_json::from_str(
            r#"{"points": [{"lat": 1.5, "lon": 2.5, "accuracyKm": 20, "severity": "critical"}]}"#,
        )
        .unwrap();
        assert_eq!(spec.points[0].accuracy_km, Some(20.0));
        assert_eq!(spec.points[0].severity, Some(Severity::Critical));
        assert_eq!(serde_json::to_string(&Theme::Light).unwrap(), r#""light""#);
        assert_eq!(
            serde_json::to_string(&MarkerKind::Finding).unwrap(),
            r#""finding""#
        );
    }

    #[test]
    fn same_input_same_bytes() {
        let series = day_series();
        assert_eq!(
            rate_chart_svg(&series, CHART, Theme::Dark).unwrap(),
            rate_chart_svg(&series.clone(), CHART, Theme::Dark).unwrap()
        );
        let spec = pacific();
        assert_eq!(
            map_svg(&spec, MAP, Theme::Light).unwrap(),
            map_svg(&spec.clone(), MAP, Theme::Light).unwrap()
        );
        assert_eq!(
            sparkline_svg(&series.counts, Size::new(120, 24), Theme::Light),
            sparkline_svg(&series.counts, Size::new(120, 24), Theme::Light)
        );
    }

    #[test]
    fn a_map_credits_its_sources() {
        for (theme, name) in [
            (Theme::Dark, "map-europe-dark.svg"),
            (Theme::Light, "map-europe-light.svg"),
        ] {
            let svg = map_svg(&europe_africa(), MAP, theme).unwrap();
            let doc = check_svg(&svg);
            let texts = texts(&doc);
            assert!(
                texts
                    .iter()
                    .any(|t| t == "IP geolocation by DB-IP · Map: Natural Earth"),
                "{texts:?}"
            );
            assert!(texts.iter().any(|t| t == "5 150 km · 10 300 km/h"), "{texts:?}");
            assert!(texts.iter().any(|t| t == "Berlin (412)"));
            assert!(texts.contains(&"alice@example.com · session 7f3c".to_owned()));
            artifact(name, &svg);
        }
        let mut spec = europe_africa();
        spec.attribution = None;
        let doc_svg = map_svg(&spec, MAP, Theme::Dark).unwrap();
        assert!(texts(&check_svg(&doc_svg)).contains(&"Map: Natural Earth".to_owned()));
    }

    /// The x extent of all land polygons.
    fn land_x_range(doc: &roxmltree::Document<'_>) -> (f64, f64) {
        doc.descendants()
            .filter(|n| n.has_tag_name("polygon"))
            .flat_map(|n| {
                n.attribute("points")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter_map(|pair| pair.split(',').next().and_then(|x| x.parse::<f64>().ok()))
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)))
    }

    #[test]
    fn a_map_without_points_shows_the_whole_world() {
        let spec = MapSpec {
            points: Vec::new(),
            legs: Vec::new(),
            title: "no locations".into(),
            attribution: None,
        };
        let svg = map_svg(&spec, Size::new(800, 400), Theme::Dark).unwrap();
        let doc = check_svg(&svg);
        // Every ring of the outline drawn (those across the antimeridian on both edges), across the
        // full width.
        let polygons = doc.descendants().filter(|n| n.has_tag_name("polygon")).count();
        assert!((126..=134).contains(&polygons), "{polygons}");
        let (left, right) = land_x_range(&doc);
        assert!(left <= 2.0 && right >= 798.0, "{left}..{right}");
        artifact("map-world.svg", &svg);
    }

    #[test]
    fn a_single_point_is_shown_in_context() {
        let mut spec = europe_africa();
        spec.points.truncate(1);
        spec.legs.clear();
        let svg = map_svg(&spec, MAP, Theme::Light).unwrap();
        let doc = check_svg(&svg);
        let circles: Vec<(f64, f64)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .map(|n| {
                (
                    n.attribute("cx").unwrap().parse().unwrap(),
                    n.attribute("cy").unwrap().parse().unwrap(),
                )
            })
            .collect();
        // The dot is in the middle of the map (vertically, between the title and the credits), and
        // there is land around it (Europe, not a blank zoom).
        assert!(
            circles
                .iter()
                .any(|&(x, y)| (x - 450.0).abs() <= 1.0 && (y - 225.0).abs() <= 10.0),
            "{circles:?}"
        );
        assert!(doc.descendants().filter(|n| n.has_tag_name("polygon")).count() > 3);
        artifact("map-single.svg", &svg);
    }

    #[test]
    fn a_leg_across_the_antimeridian_takes_the_short_way() {
        let svg = map_svg(&pacific(), MAP, Theme::Dark).unwrap();
        let doc = check_svg(&svg);
        let legs: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
            .map(|n| {
                let xs: Vec<f64> = n
                    .attribute("points")
                    .unwrap()
                    .split_whitespace()
                    .map(|p| p.split(',').next().unwrap().parse().unwrap())
                    .collect();
                (xs[1] - xs[0]).abs()
            })
            .collect();
        assert_eq!(legs.len(), 1, "one leg, drawn once");
        // Tokyo → Honolulu is ~62° of longitude; the long way would be ~298°, off the map.
        assert!(legs[0] < 900.0 * 0.8 && legs[0] > 900.0 * 0.3, "{legs:?}");
        assert!(texts(&doc).iter().any(|t| t == "6 200 km · 8 950 km/h"));
        artifact("map-pacific.svg", &svg);
    }

    #[test]
    fn sparklines_never_fail() {
        let counts = day_series().counts;
        let svg = sparkline_svg(&counts, Size::new(120, 24), Theme::Light);
        let doc = check_svg(&svg);
        assert_eq!(doc.root_element().attribute("width"), Some("120"));
        assert!(texts(&doc).is_empty(), "no text in a sparkline");
        assert!(svg.len() < 8_000, "{} bytes", svg.len());
        artifact("sparkline.svg", &svg);

        // Degenerate sizes are clamped, not refused.
        let tiny = sparkline_svg(&[5], Size::new(0, 0), Theme::Dark);
        assert_eq!(check_svg(&tiny).root_element().attribute("width"), Some("16"));
        check_svg(&sparkline_svg(
            &[u32::MAX; 5000],
            Size::new(60_000, 12),
            Theme::Dark,
        ));
    }
}
