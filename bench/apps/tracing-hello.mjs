// The hello-world handler of the tracing benchmark (bench/tracing.ts), served
// the same way by pounce (`pounce bench/apps/tracing-hello.mjs`) and by bare
// node:http (tracing-bare.mjs): the same code, the same bytes on the wire.
export default function hello(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end('Hello, World!');
}
