// The fetch-style hello app (`pounce bench/apps/hello-fetch.mjs`).
export default { fetch: () => new Response('Hello, World!') };
