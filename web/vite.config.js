// Vite builds the pages into golive/static/, which golive serves (golive/pages.py) and a wheel
// carries: index.html with no-cache, everything under assets/ named by a content hash and
// cached for a year.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// `npm run dev` serves the pages with hot reload and forwards the API and HLS to a golive
// running on its default port.
const golive = process.env.GOLIVE_URL || "http://127.0.0.1:8080";
// Inside the Python package, so that `python -m build` puts the pages into the wheel.
const OUT_DIR = "../golive/static";

// Compressed copies beside each text file (name.js.br, name.js.gz): aiohttp's FileResponse
// sends one of them when the browser accepts it, so hls.js travels as about 150 kB instead of
// 580 kB, with no compression work per request.
function precompress() {
  let outDir = OUT_DIR;
  const compressible = /\.(js|mjs|css|html|svg|json)$/;
  const walk = (dir) =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return {
    name: "golive-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      for (const path of walk(outDir)) {
        if (!compressible.test(path)) continue;
        const data = readFileSync(path);
        if (data.length < 1024) continue;
        writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
        writeFileSync(
          `${path}.br`,
          brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

export default defineConfig({
  plugins: [vue(), precompress()],
  build: {
    outDir: OUT_DIR,
    assetsDir: "assets",
    emptyOutDir: true,
    // hls.js alone is about 580 kB; only the watch page loads it (a chunk of its own).
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": golive,
      "/hls": golive,
    },
  },
});
