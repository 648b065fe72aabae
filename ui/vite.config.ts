/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The production bundle goes to ui/dist, which is committed and embedded in
// the strata binary (ui/embed.go). It must be reproducible: `go tool task
// lint` rebuilds it and fails when it differs from the committed one.
// `npm run dev` proxies the API to a running `strata dev` (STRATA_API).
const api = process.env.STRATA_API ?? "http://127.0.0.1:7400";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // No inline assets: the CSP allows only 'self' (data: for images).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        // Three chunks that change at different paces, so that a browser
        // keeps the others cached: libraries (package-lock.json), the
        // generated client (proto/), and the console itself.
        manualChunks(id) {
          if (id.includes("/node_modules/")) return "vendor";
          if (id.includes("/src/gen/")) return "client";
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      "^/strata\\.": { target: api, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
