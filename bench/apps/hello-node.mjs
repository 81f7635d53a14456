// The node-style hello handler, shared by the bare node:http server and pounce
// (`pounce bench/apps/hello-node.mjs`): the same bytes on the wire for both.
export default function hello(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end('Hello, World!');
}
