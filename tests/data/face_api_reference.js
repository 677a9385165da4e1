// Face descriptors from face-api's own FaceRecognitionNet (@vladmandic/face-api 1.7.15) on its TensorFlow.js
// WebAssembly backend: the reference the Keras conversion (isr_kd/face_api.py) is tested against.
//
//   python -m isr_kd.face_api --reference_inputs=faces.bin --real_data_dir=../shared/data
//   npm install @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
//   node tests/data/face_api_reference.js faces.bin node_modules/@vladmandic/face-api/model > face_api_reference.json
//
// faces.bin: N x 150 x 150 x 3 uint8 RGB faces, row-major; names travel in faces.bin.json beside it.
const fs = require('fs');
const path = require('path');

async function main() {
  const [bin, modelDir] = process.argv.slice(2);
  const faceapi = require(path.resolve('node_modules/@vladmandic/face-api/dist/face-api.node-wasm.js'));
  const tf = faceapi.tf;
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  const names = JSON.parse(fs.readFileSync(`${bin}.json`, 'utf8')).names;
  const raw = fs.readFileSync(bin);
  const size = 150 * 150 * 3;
  const descriptors = [];
  for (let i = 0; i < names.length; i += 1) {
    const face = tf.tensor3d(new Uint8Array(raw.buffer, raw.byteOffset + i * size, size), [150, 150, 3], 'int32');
    const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(face);
    descriptors.push(Array.from(d));
    face.dispose();
  }
  process.stdout.write(JSON.stringify({
    package: '@vladmandic/face-api@1.7.15', backend: tf.getBackend(), tfjs: tf.version.tfjs, names, descriptors,
  }));
}

main().catch((e) => { console.error(e); process.exit(1); });
