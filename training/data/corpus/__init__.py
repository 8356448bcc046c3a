"""The offline training corpora: synthetic voices (espeak-ng, flite, festival …) and real recorded speech."""
