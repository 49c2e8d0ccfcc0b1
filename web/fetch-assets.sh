#!/usr/bin/env bash
# Fetches the dashboard's third-party assets from the npm registry and writes
# them, with their licences, under web/static/vendor/. The results are
# committed, so building Suanli needs no network; run this only to change a
# version, then review the diff.
#
#   web/fetch-assets.sh            # needs npm and node
set -euo pipefail

ECHARTS=echarts@6.1.0
GEO=@surbowl/world-geo-json-zh@2.1.5

here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() { # fetch NAME@VERSION DIR: npm pack into DIR and unpack it there
	mkdir -p "$2"
	(cd "$2" && npm pack --silent "$1" >/dev/null && tar xzf ./*.tgz)
}

# Apache ECharts: the dist bundle, its licence and notice.
fetch "$ECHARTS" "$tmp/echarts"
mkdir -p "$vendor/echarts"
cp "$tmp/echarts/package/dist/echarts.min.js" "$vendor/echarts/echarts.min.js"
cp "$tmp/echarts/package/LICENSE" "$vendor/echarts/LICENSE"
cp "$tmp/echarts/package/NOTICE" "$vendor/echarts/NOTICE"
echo "$ECHARTS" >"$vendor/echarts/VERSION"

# Boundaries: China (its outline per the Ministry of Natural Resources' map,
# with the South China Sea islands) and its neighbours, cut from a
# simplified-Chinese world GeoJSON; coordinates rounded to 0.01 degree.
fetch "$GEO" "$tmp/geo"
mkdir -p "$vendor/geo"
node - "$tmp/geo/package/world.zh.json" "$vendor/geo/china.json" <<'EOF'
const fs = require("fs");
const [src, dst] = process.argv.slice(2);
const world = JSON.parse(fs.readFileSync(src, "utf8"));
const box = [70, 0, 140, 56]; // lon min, lat min, lon max, lat max
const round = (c) => (typeof c[0] === "number" ? [Math.round(c[0] * 100) / 100, Math.round(c[1] * 100) / 100] : c.map(round));
const touches = (c) => (typeof c[0] === "number" ? c[0] >= box[0] && c[0] <= box[2] && c[1] >= box[1] && c[1] <= box[3] : c.some(touches));
const features = world.features
	.filter((f) => f.geometry && touches(f.geometry.coordinates))
	.map((f) => ({
		type: "Feature",
		properties: { name: f.properties.iso_a2, zh: f.properties.name },
		geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
	}));
if (!features.some((f) => f.properties.name === "CN")) throw new Error("no CN feature in " + src);
fs.writeFileSync(dst, JSON.stringify({ type: "FeatureCollection", features }) + "\n");
console.log(`china.json: ${features.length} features`);
EOF
cp "$tmp/geo/package/LICENSE" "$vendor/geo/LICENSE"
echo "$GEO" >"$vendor/geo/VERSION"
ls -l "$vendor"/*
