"""Media: encoding and decoding MP4, stitching, quality signals, posters, start pictures, Content Credentials."""
