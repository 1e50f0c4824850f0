#pragma once
// placeholder: framing codecs are being written
