#!/usr/bin/env node
// Reference executor: runs an ONNX model with onnxruntime (CPU, package
// onnxruntime-node pinned in package-lock.json) on .npy inputs and writes
// every output as <output-dir>/<name>.npy. The tests and the demo compare the
// SpAtten simulator against these outputs (see docs/Numerics.md).
//
//   node scripts/ort-run.mjs model.onnx --input NAME=FILE.npy ... --output-dir DIR
//        [--opt-level disabled|basic|extended|all] [--threads N]
//   node scripts/ort-run.mjs model.onnx --input NAME=FILE.npy ... --time N [...]
//
// Prints a JSON object {output name: file} on stdout. With --time N it
// times the session creation and N + 1 runs on the same session (the first
// is the warm-up) and prints {"create_ms", "first_ms", "runs_ms": [N]}
// instead (milliseconds, performance.now); --output-dir is then optional.
// Errors go to stderr with a non-zero exit. ONNX TensorProto (.pb) inputs are converted to .npy
// by the Python wrapper (python/spatten/ort.py), which uses onnx.numpy_helper.
//
// Graph optimisations are disabled by default: the reference should execute
// the graph node by node, not onnxruntime's fused kernels.

import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { parse as parseNpy, dump as dumpNpy } from 'npyjs';

// numpy dtype code -> onnxruntime tensor type.
const NPY_TO_ORT = {
  f4: 'float32', f8: 'float64', i8: 'int64', i4: 'int32', i2: 'int16', i1: 'int8',
  u8: 'uint64', u4: 'uint32', u2: 'uint16', u1: 'uint8', b1: 'bool',
};
const ORT_TO_NPY = Object.fromEntries(Object.entries(NPY_TO_ORT).map(([k, v]) => [v, k]));

function fail(msg) {
  process.stderr.write(`ort-run: error: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { inputs: [], outputDir: null, optLevel: 'disabled', threads: 1, model: null, time: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--input') {
      const v = value();
      const eq = v.indexOf('=');
      if (eq <= 0) fail(`--input expects NAME=FILE, got '${v}'`);
      args.inputs.push([v.slice(0, eq), v.slice(eq + 1)]);
    } else if (a === '--output-dir') args.outputDir = value();
    else if (a === '--opt-level') args.optLevel = value();
    else if (a === '--threads') args.threads = Number(value());
    else if (a === '--time') {
      args.time = Number(value());
      if (!Number.isInteger(args.time) || args.time < 0) fail(`--time expects a run count >= 0, got '${argv[i]}'`);
    }
    else if (a.startsWith('-')) fail(`unknown option ${a}`);
    else if (args.model === null) args.model = a;
    else fail(`unexpected argument ${a}`);
  }
  if (!args.model) fail('no model given (usage: ort-run.mjs model.onnx --input NAME=FILE.npy ... --output-dir DIR)');
  if (!args.outputDir && args.time === null) fail('--output-dir is required (or --time N)');
  return args;
}

// Reads a C-order little-endian .npy file into an onnxruntime tensor and
// checks that the data size matches the header's shape.
function readNpy(file) {
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  let arr;
  try {
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    arr = parseNpy(buf, { convertFloat16: false });
  } catch (e) {
    fail(`${file}: not a valid .npy file (${e.message})`);
  }
  if (arr.fortranOrder) fail(`${file}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const type = NPY_TO_ORT[arr.dtype];
  if (!type) fail(`${file}: unsupported dtype '${arr.dtype}' (big-endian or exotic)`);
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) {
    fail(`${file}: holds ${arr.data.length} elements but its header shape [${arr.shape}] needs ${count}`);
  }
  const data = type === 'bool' ? Uint8Array.from(arr.data, (b) => (b ? 1 : 0)) : arr.data;
  return new ort.Tensor(type, data, arr.shape);
}

// Same rule as spatten-sim: path separators become '_' so every output
// stays inside the output directory.
function safeFileName(name) {
  return name.replace(/[/\\]/g, '_') + '.npy';
}

function writeNpy(file, tensor) {
  const dtype = ORT_TO_NPY[tensor.type];
  if (!dtype) fail(`output type ${tensor.type} cannot be written as .npy`);
  const buf = dumpNpy(tensor.data, tensor.dims.map(Number), { dtype });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, Buffer.from(buf));
  fs.renameSync(tmp, file);
}

async function run(session, feeds, model) {
  try {
    return await session.run(feeds);
  } catch (e) {
    fail(`onnxruntime failed to run ${model}: ${e.message}`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const feeds = {};
  for (const [name, file] of args.inputs) feeds[name] = readNpy(file);
  let session;
  const created = performance.now();
  try {
    session = await ort.InferenceSession.create(args.model, {
      graphOptimizationLevel: args.optLevel,
      intraOpNumThreads: args.threads,
      interOpNumThreads: 1,
    });
  } catch (e) {
    fail(`onnxruntime cannot load ${args.model}: ${e.message}`);
  }
  const createMs = performance.now() - created;
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) fail(`missing inputs: ${missing.join(', ')} (model inputs: ${session.inputNames.join(', ')})`);
  const extra = Object.keys(feeds).filter((n) => !session.inputNames.includes(n));
  if (extra.length) fail(`unknown inputs: ${extra.join(', ')} (model inputs: ${session.inputNames.join(', ')})`);
  if (args.time !== null) {
    const runsMs = [];
    for (let i = 0; i <= args.time; i++) {
      const t0 = performance.now();
      await run(session, feeds, args.model);
      runsMs.push(performance.now() - t0);
    }
    process.stdout.write(JSON.stringify({ create_ms: createMs, first_ms: runsMs[0], runs_ms: runsMs.slice(1) }) + '\n');
    return;
  }
  const results = await run(session, feeds, args.model);
  fs.mkdirSync(args.outputDir, { recursive: true });
  const written = {};
  for (const name of session.outputNames) {
    const file = path.join(args.outputDir, safeFileName(name));
    writeNpy(file, results[name]);
    written[name] = file;
  }
  process.stdout.write(JSON.stringify(written) + '\n');
}

main().catch((e) => fail(e.stack || String(e)));
