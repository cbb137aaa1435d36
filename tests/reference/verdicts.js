'use strict';

// Prints one JSON line per manifest file named on the command line, as judged by Cloudron's
// own validator: {"file": ..., "valid": true|false, "error": null|"<its message>"}.

const manifestformat = require('cloudron-manifestformat');

for (const file of process.argv.slice(2)) {
    let error;
    try {
        error = manifestformat.parseFile(file).error;
    } catch (exception) { // parse() asserts that the JSON value is an object
        error = exception;
    }
    console.log(JSON.stringify({ file, valid: !error, error: error ? error.message : null }));
}
