package mailstore

// ModSeqBlock is how many consecutive messages a block of a MessageList
// holds (fewer after expunges) and one entry of its MODSEQ summary
// covers.
const ModSeqBlock = 64
