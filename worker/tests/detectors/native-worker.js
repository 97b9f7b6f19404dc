// A dedicated web worker's own native-function checks.
import { nativeChecks, claims } from '/native.js';

postMessage({ checks: nativeChecks(self, null), claims: claims(self) });
